"""botocore's X-Ray service model, as the generators in this folder read it."""
import gzip
import json
import os

import botocore

VERSION = botocore.__version__


def load():
    path = os.path.join(os.path.dirname(botocore.__file__), "data", "xray", "2016-04-12")
    packed = os.path.join(path, "service-2.json.gz")
    if os.path.exists(packed):
        return json.load(gzip.open(packed))
    with open(os.path.join(path, "service-2.json")) as f:
        return json.load(f)
