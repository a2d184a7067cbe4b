"""Mobius' out-of-process Python runtime: one MLflow pyfunc model behind the Open
Inference Protocol v2 (REST), on loopback, for the Node API process to call.

Why a separate process: loading a pickled (or skops/cloudpickle) model runs arbitrary
code, so the API process never does it; this process does, with the Python the operator
chose (`serving.python`). Started by src/serving/runtimes/python-runtime.ts:

    <python> oip_server.py --model-dir DIR --model-name NAME

Protocol with the parent:
- stdin, first line: a bearer token every HTTP request must carry (so other local users
  cannot call the model); stdin then stays open, and its end (the parent exited, even by
  SIGKILL) ends this process.
- stdout, first line: {"mobius_oip_port": N}, the loopback port it listens on. The model
  loads after that; /v2/health/ready answers 200 once it has.
- a model that fails to load ends the process (exit code 3) with the traceback on stderr,
  which the parent shows.

Only the standard library and mlflow (with the model's own requirements) are needed.
Requests arrive validated against the model's signature by the parent; the conversion
here is from OIP tensors to what pyfunc's predict takes (a DataFrame for column-based
signatures, ndarrays for tensor-based ones) and back.
"""

import argparse
import hmac
import json
import os
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# OIP datatype -> numpy dtype name, and back by numpy dtype kind/size.
NUMPY_DTYPES = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}

# The parent never sends more than its own body limit; this bounds a stray caller.
MAX_BODY_BYTES = 64 * 1024 * 1024


class ModelState:
    """The model (None until loaded) and what its signature says about inputs."""

    def __init__(self, name):
        self.name = name
        self.model = None
        self.columns = False  # column-based input schema: predict takes a DataFrame
        self.input_names = []
        self.named_tensors = False
        # One predict at a time: pyfunc models are not promised to be thread-safe, and
        # the parent serialises little anyway (the GIL holds most sklearn work).
        self.lock = threading.Lock()


def datatype_of(array):
    """The OIP datatype of a numpy array's values."""
    kind = array.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind == "f":
        return {2: "FP16", 4: "FP32"}.get(array.dtype.itemsize, "FP64")
    if kind == "i":
        return {1: "INT8", 2: "INT16", 4: "INT32"}.get(array.dtype.itemsize, "INT64")
    if kind == "u":
        return {1: "UINT8", 2: "UINT16", 4: "UINT32"}.get(array.dtype.itemsize, "UINT64")
    return "BYTES"


def to_tensor(name, value):
    """One OIP output tensor from an array-like; non-finite floats are refused."""
    import numpy as np

    array = np.asarray(value)
    datatype = datatype_of(array)
    if datatype.startswith("FP"):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"the model returned NaN or an infinity in output '{name}'")
        data = array.astype("float64").ravel().tolist()
    elif datatype == "BOOL":
        data = [bool(v) for v in array.ravel()]
    elif datatype == "BYTES":
        data = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.ravel()]
    else:
        data = array.ravel().tolist()
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def model_input(state, inputs):
    """What pyfunc's predict takes, built from validated OIP input tensors."""
    import numpy as np

    arrays = {}
    for tensor in inputs:
        dtype = NUMPY_DTYPES[tensor["datatype"]]
        array = np.asarray(tensor["data"], dtype=dtype).reshape(tensor["shape"])
        arrays[tensor["name"]] = array
    if state.columns:
        import pandas as pd

        # One column per input ([n] or [n,1]), in the signature's order.
        return pd.DataFrame({name: arrays[name].reshape(-1) for name in state.input_names})
    if state.named_tensors:
        return arrays
    # One unnamed tensor: the parent calls it 'input'; whatever it is called, it is the one.
    return next(iter(arrays.values()))


def model_output(result):
    """OIP output tensors from whatever predict returned."""
    import numpy as np

    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - mlflow depends on pandas
        pd = None
    if pd is not None and isinstance(result, pd.DataFrame):
        return [to_tensor(str(column), result[column].to_numpy()) for column in result.columns]
    if pd is not None and isinstance(result, pd.Series):
        return [to_tensor("predictions", result.to_numpy())]
    if isinstance(result, dict):
        return [to_tensor(str(k), v) for k, v in result.items()]
    return [to_tensor("predictions", np.asarray(result))]


def make_handler(state, token, ready):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the parent reuses connections
        # Headers and body go out as two writes; with Nagle on, the body waits for the
        # client's delayed ACK (~40 ms per request on Linux).
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # noqa: A002 - quiet: the parent logs requests
            pass

        def reply(self, status, body):
            payload = json.dumps(body, allow_nan=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def authorised(self):
            given = self.headers.get("Authorization", "")
            if hmac.compare_digest(given.encode("utf-8"), f"Bearer {token}".encode("utf-8")):
                return True
            # Drain the body so the connection stays usable, then refuse.
            length = int(self.headers.get("Content-Length") or 0)
            if 0 < length <= MAX_BODY_BYTES:
                self.rfile.read(length)
            self.reply(401, {"error": "missing or wrong bearer token"})
            return False

        def do_GET(self):  # noqa: N802 - http.server's naming
            if not self.authorised():
                return
            if self.path == "/v2/health/live":
                self.reply(200, {"live": True})
            elif self.path == "/v2/health/ready" or self.path == f"/v2/models/{state.name}/ready":
                if ready.is_set():
                    self.reply(200, {"ready": True})
                else:
                    self.reply(503, {"ready": False})
            elif self.path == f"/v2/models/{state.name}":
                self.reply(200, metadata(state))
            else:
                self.reply(404, {"error": f"no route {self.path}"})

        def do_POST(self):  # noqa: N802 - http.server's naming
            if not self.authorised():
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY_BYTES:
                self.reply(400, {"error": "send a JSON body with Content-Length"})
                return
            body = self.rfile.read(length)
            if self.path != f"/v2/models/{state.name}/infer":
                self.reply(404, {"error": f"no route {self.path}"})
                return
            if not ready.is_set():
                self.reply(503, {"error": "the model is still loading"})
                return
            try:
                request = json.loads(body)
                data = model_input(state, request["inputs"])
            except Exception as error:  # noqa: BLE001 - any malformed body is the caller's
                self.reply(400, {"error": f"bad request: {type(error).__name__}: {error}"})
                return
            try:
                with state.lock:
                    result = state.model.predict(data)
                outputs = model_output(result)
            except Exception as error:  # noqa: BLE001 - user code: report, keep serving
                invalid = type(error).__name__ == "MlflowException" and "INVALID" in str(
                    getattr(error, "error_code", "")
                )
                traceback.print_exc(file=sys.stderr)
                self.reply(
                    400 if invalid else 500,
                    {"error": f"{type(error).__name__}: {error}"},
                )
                return
            response = {"model_name": state.name, "outputs": outputs}
            if isinstance(request.get("id"), str):
                response["id"] = request["id"]
            self.reply(200, response)

    return Handler


def metadata(state):
    """OIP model metadata, from mlflow's own reading of the signature."""
    meta = {"name": state.name, "platform": "mlflow_pyfunc", "versions": []}
    if state.model is None:
        return meta
    signature = state.model.metadata.signature
    if signature is not None:
        meta["parameters"] = {"mlflow_signature": signature.to_dict()}
    return meta


def watch_parent():
    """Ends this process when the parent's end of stdin closes (the parent exited)."""
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    token = sys.stdin.readline().strip()
    if not token:
        print("no token on stdin: this server is started by Mobius", file=sys.stderr)
        sys.exit(2)
    state = ModelState(args.model_name)
    ready = threading.Event()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(state, token, ready))
    server.daemon_threads = True
    threading.Thread(target=watch_parent, daemon=True).start()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"mobius_oip_port": server.server_address[1]}), flush=True)

    try:
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(args.model_dir)
        schema = model.metadata.get_input_schema()
        if schema is not None:
            state.columns = not schema.is_tensor_spec()
            state.named_tensors = schema.is_tensor_spec() and schema.has_input_names()
            state.input_names = schema.input_names() if schema.has_input_names() else []
        state.model = model
    except BaseException:  # noqa: BLE001 - the parent shows this traceback
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        os._exit(3)
    ready.set()
    threading.Event().wait()


if __name__ == "__main__":
    main()
