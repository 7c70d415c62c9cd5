"""The REST JSON encoder: exact float32 round trips and TF Serving's response shapes."""
import json

import numpy as np

from serving.rest_json import format_predict_response, json_text


def test_json_text_round_trips_float32_exactly(rng):
    values = (rng.normal(size=(3, 4, 5)) * 10.0 ** rng.integers(-30, 30, size=(3, 4, 5))).astype(np.float32)
    values[0, 0, :3] = [0.0, -0.0, np.finfo(np.float32).tiny]
    decoded = np.asarray(json.loads(json_text(values)), np.float32)
    np.testing.assert_array_equal(decoded, values)
    assert decoded.shape == (3, 4, 5)


def test_json_text_other_dtypes_and_edge_cases():
    assert json.loads(json_text(np.arange(6, dtype=np.int32).reshape(2, 3))) == [[0, 1, 2], [3, 4, 5]]
    assert json.loads(json_text(np.array([True, False]))) == [True, False]
    assert json.loads(json_text(np.float32(2.5))) == 2.5
    assert json.loads(json_text(np.zeros((0, 3), np.float32))) == []
    assert json_text(np.array([1.0, np.nan], np.float32)) == "[1.0, NaN]"
    assert json.loads(json_text(np.array([0.1], np.float64)))[0] == 0.1


def test_response_shapes_of_both_forms():
    outputs = {"images": np.ones((2, 1), np.float32), "latents": np.zeros((2, 3), np.float32)}
    assert json.loads(format_predict_response(outputs, columnar=True)) == {
        "outputs": {"images": [[1.0], [1.0]], "latents": [[0.0] * 3] * 2}}
    assert json.loads(format_predict_response(outputs, columnar=False)) == {
        "predictions": [{"images": [1.0], "latents": [0.0] * 3}] * 2}
    single = {"images": np.ones((2, 1), np.float32)}
    assert json.loads(format_predict_response(single, columnar=False)) == {"predictions": [[1.0], [1.0]]}
    assert json.loads(format_predict_response(single, columnar=True)) == {"outputs": [[1.0], [1.0]]}
