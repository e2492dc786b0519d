"""A transformer written for the official aistore SDK server, untouched: what AIS users have today."""

from aistore.sdk.etl.webserver.fastapi_server import FastAPIServer


class UpperETL(FastAPIServer):
    def transform(self, data, path, etl_args):
        return data.upper()


app = UpperETL().app
