"""A TF Serving REST client on the standard library (urllib): status, metadata, predict in row or columnar form."""
import json
import urllib.error
import urllib.request

import numpy as np

from serving.errors import HTTP_STATUS, ServingError

_CODE_OF_STATUS = {status: code for code, status in reversed(list(HTTP_STATUS.items()))}


class RestClient:
    """Talks to `tensorflow_model_server --rest_api_port` or `serving.dev_server`.

    Args:
        address: str. HOST:PORT of the REST API. Defaults to 127.0.0.1:8501.
        timeout: float. Seconds to wait for an answer. Defaults to 60.
    """

    def __init__(self, address="127.0.0.1:8501", timeout=60.0):
        self.base_url = f"http://{address}/v1/models"
        self.timeout = timeout
        self._output_names = {}

    def status(self, model_name, version=None):
        return self._call("GET", self._path(model_name, version))

    def metadata(self, model_name, version=None):
        return self._call("GET", self._path(model_name, version) + "/metadata")

    def predict(self, model_name, inputs, signature_name="serving_default", version=None, columnar=False):
        """Sends {input name: array}; returns {output name: np.ndarray}.

        Row form sends one object per row ("instances") and reads "predictions"; columnar form sends whole tensors
        ("inputs") and reads "outputs".
        """
        inputs = {name: np.asarray(value) for name, value in inputs.items()}
        request = {"signature_name": signature_name}
        if columnar:
            request["inputs"] = {name: value.tolist() for name, value in inputs.items()}
        else:
            rows = {name: value.tolist() for name, value in inputs.items()}
            count = len(next(iter(rows.values())))
            request["instances"] = [{name: rows[name][i] for name in rows} for i in range(count)]
        answer = self._call("POST", self._path(model_name, version) + ":predict", request)
        if columnar:
            outputs = answer["outputs"]
            if not isinstance(outputs, dict):
                outputs = {self._single_output(model_name, version, signature_name): outputs}
            return {name: np.asarray(value) for name, value in outputs.items()}
        predictions = answer["predictions"]
        if predictions and isinstance(predictions[0], dict):
            return {name: np.asarray([row[name] for row in predictions]) for name in predictions[0]}
        return {self._single_output(model_name, version, signature_name): np.asarray(predictions)}

    def _single_output(self, model_name, version, signature_name):
        key = (model_name, version, signature_name)
        if key not in self._output_names:
            signatures = self.metadata(model_name, version)["metadata"]["signature_def"]["signature_def"]
            (self._output_names[key],) = signatures[signature_name or "serving_default"]["outputs"]
        return self._output_names[key]

    def _path(self, model_name, version):
        return f"{self.base_url}/{model_name}" + (f"/versions/{int(version)}" if version is not None else "")

    def _call(self, method, url, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                message = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                message = text or error.reason
            raise ServingError(_CODE_OF_STATUS.get(error.code, "INTERNAL"),
                               f"HTTP {error.code} from {url}: {message}") from None
        except urllib.error.URLError as error:
            raise ServingError("UNAVAILABLE", f"No server answers at {url}: {error.reason}. Is it running?") \
                from None
