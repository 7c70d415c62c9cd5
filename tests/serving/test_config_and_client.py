"""models.config and batching parameters for tensorflow_model_server, the client (functions and binary), the
binaries' flags."""
import json

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from serving import config
from serving import client as client_lib
from serving.client import describe_signatures, make_client, request_samples, sample_seeds, write_grid
from serving.dev_server import DevServer, parse_model_config, read_model_config
from serving.model_manager import ModelManager
from serving.rest_client import RestClient
from tests.conftest import run_python
from tests.serving.conftest import copy_export, export_golden
from tfvae import files


def batching_parameters_message():
    """TF Serving's BatchingParameters message (session_bundle_config.proto; not shipped by tensorflow-serving-api)
    rebuilt from its field names and types, so the generated file is checked by protobuf's own text parser."""
    proto = descriptor_pb2.FileDescriptorProto(name="test_batching.proto", package="test", syntax="proto3",
                                               dependency=["google/protobuf/wrappers.proto"])
    message = proto.message_type.add(name="BatchingParameters")
    wrapped = [("max_batch_size", ".google.protobuf.Int64Value"), ("batch_timeout_micros",
               ".google.protobuf.Int64Value"), ("max_enqueued_batches", ".google.protobuf.Int64Value"),
               ("num_batch_threads", ".google.protobuf.Int64Value")]
    for number, (name, type_name) in enumerate(wrapped, start=1):
        message.field.add(name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                          type_name=type_name, label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    message.field.add(name="allowed_batch_sizes", number=6, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    from google.protobuf import wrappers_pb2

    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("test.BatchingParameters"))


def test_batching_parameters_parse_and_respect_the_export_row_limit():
    parsed = text_format.Parse(config.batching_parameters(num_batch_threads=2), batching_parameters_message()())
    assert parsed.max_batch_size.value == 256 and parsed.num_batch_threads.value == 2
    assert list(parsed.allowed_batch_sizes) == [16, 32, 64, 128, 256]
    assert parsed.batch_timeout_micros.value == 2000 and parsed.max_enqueued_batches.value == 64
    with pytest.raises(ValueError, match="the export's row limit"):
        config.batching_parameters(max_batch_size=2048, allowed_batch_sizes=(2048,))
    with pytest.raises(ValueError, match="ending at max_batch_size"):
        config.batching_parameters(max_batch_size=128, allowed_batch_sizes=(16, 64))
    with pytest.raises(ValueError, match="num_batch_threads must be positive"):
        config.batching_parameters(num_batch_threads=0)


def test_models_config_serves_several_models_and_versions(server, tmp_path):
    copy_export(server, tmp_path, "digits_rae")
    export_golden(tmp_path, "digits_rae", seed=1)  # another GMM
    copy_export(server, tmp_path, "digits_vae")
    models_path, batching_path = config.write_configs(str(tmp_path), versions="all", server_base="/models")
    text = open(models_path).read()
    assert 'base_path: "/models/digits_rae"' in text and "all {" in text
    parsed = parse_model_config(text)
    assert parsed == {"digits_rae": {"base_path": "/models/digits_rae", "policy": {"all": True}},
                      "digits_vae": {"base_path": "/models/digits_vae", "policy": {"all": True}}}
    assert open(batching_path).read() == config.batching_parameters()

    # A file with this machine's paths drives dev_server: two models, version 1 pinned; then all versions.
    models_path, _ = config.write_configs(str(tmp_path), models=["digits_rae", "digits_vae"], versions=[1])
    pinned = parse_model_config(open(models_path).read())
    assert pinned["digits_rae"]["policy"] == {"specific": [1]}
    dev_server = DevServer(ModelManager(pinned, 8), rest_port=0, grpc_port=None)
    all_versions = ModelManager(parse_model_config(config.model_server_config(
        [{"name": "digits_rae", "base_path": str(tmp_path / "digits_rae"), "versions": "all"}])), 8)
    try:
        client = RestClient(f"127.0.0.1:{dev_server.rest_port}")
        assert [e["version"] for e in client.status("digits_rae")["model_version_status"]] == ["1"]
        assert client.status("digits_vae")["model_version_status"][0]["state"] == "AVAILABLE"
        assert [e["version"] for e in all_versions.status("digits_rae")["model_version_status"]] == ["1", "2"]
        first = all_versions.get("digits_rae", 1).predict("sample", {"seed": sample_seeds(3, 0)})
        second = all_versions.get("digits_rae", 2).predict("sample", {"seed": sample_seeds(3, 0)})
        assert not np.allclose(first["latents"], second["latents"])  # different GMMs, different samples
        np.testing.assert_allclose(client.predict("digits_rae", {"seed": sample_seeds(3, 0)}, "sample")["latents"],
                                   first["latents"], atol=1e-6)
    finally:
        dev_server.shutdown()
        all_versions.close()


def test_config_files_and_served_versions_on_any_filesystem(server):
    """serving.config writes, dev_server reads and its ModelManager loads through tf.io.gfile: the whole path on
    TensorFlow's in-memory filesystem, as on gs://."""
    base = f"ram://serving-{np.random.default_rng().integers(1 << 30)}"
    files.copy_tree(server["path"], f"{base}/vae/1")
    models_path, batching_path = config.write_configs(base)
    assert (models_path, batching_path) == (f"{base}/models.config", f"{base}/batching_parameters.txt")
    models = read_model_config(models_path)
    assert models == {"vae": {"base_path": f"{base}/vae", "policy": {"latest": 1}}}
    manager = ModelManager(models, 8)
    try:
        seeds = sample_seeds(3, 0)
        answer = manager.get("vae").predict("sample", {"seed": seeds})
        np.testing.assert_allclose(answer["latents"], server["gmm"].sample_from_seeds(tf.constant(seeds)), atol=1e-6)
    finally:
        manager.close()
    with pytest.raises(FileNotFoundError, match=f"No model config file at {base}/missing.config"):
        read_model_config(f"{base}/missing.config")
    # Relative base paths are taken from the config file's folder; absolute paths and URLs are kept as they are.
    parsed = parse_model_config('model_config_list { config { name: "a" base_path: "a" } config { name: "b" '
                                'base_path: "gs://bucket/b" } config { name: "c" base_path: "/models/c" } }',
                                relative_to="ram://configs")
    assert {name: entry["base_path"] for name, entry in parsed.items()} == {
        "a": "ram://configs/a", "b": "gs://bucket/b", "c": "/models/c"}


def test_config_errors_name_what_is_wrong(server, tmp_path):
    with pytest.raises(FileNotFoundError, match="No export base folder"):
        config.write_configs(str(tmp_path / "missing"))
    copy_export(server, tmp_path, "m")
    with pytest.raises(ValueError, match="have no exported versions"):
        config.write_configs(str(tmp_path), models=["other"])
    with pytest.raises(ValueError, match=r"has no versions \[3\]"):
        config.write_configs(str(tmp_path), versions=[3])
    with pytest.raises(ValueError, match="not a text-format ModelServerConfig"):
        parse_model_config("model_config_list { nonsense: 1 }")
    with pytest.raises(ValueError, match="lists no models"):
        parse_model_config("")
    with pytest.raises(FileNotFoundError, match="No servable version of model 'm'"):
        ModelManager({"m": {"base_path": str(tmp_path / "nothing")}}, 8)


SAMPLE_GMM_LINE = "sample_gmm(seed: int32[-1, 2]) -> images: float[-1, 8, 8, 1], latents: float[-1, 3]"


def client_grid(server, protocol, form, path):
    """What the client binary does for `--protocol --format --num_samples=9 --seed=4`, in-process: the signature
    lines it prints and the grid it writes (decoded)."""
    client = make_client(protocol, server["rest"] if protocol == "rest" else server["grpc"])
    lines = describe_signatures(client.metadata("vae"))
    outputs = request_samples(client, "vae", "sample", 9, 4, columnar=protocol == "rest" and form == "columnar")
    if protocol == "grpc":
        client.close()
    assert outputs["images"].shape == (9, 8, 8, 1)
    write_grid(outputs["images"], str(path))
    return lines, tf.io.decode_png(path.read_bytes()).numpy()


def test_client_rest_row_columnar_and_grpc_write_the_same_grid(server, tmp_path):
    grids = {}
    for protocol, form in (("rest", "row"), ("rest", "columnar"), ("grpc", "row")):
        lines, grids[(protocol, form)] = client_grid(server, protocol, form, tmp_path / f"{protocol}-{form}.png")
        assert SAMPLE_GMM_LINE in lines
    first = grids[("rest", "row")]
    assert first.shape[0] >= 3 * 8 and first.std() > 0
    for grid in grids.values():
        np.testing.assert_array_equal(grid, first)


@pytest.mark.slow
def test_client_binary_writes_the_grid_of_the_client_functions(server, tmp_path):
    output = tmp_path / "binary.png"
    result = run_python(["-m", "serving.client", "--model_name=vae", "--protocol=grpc", f"--server={server['grpc']}",
                         "--num_samples=9", "--seed=4", f"--output={output}"], timeout=120)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"output": str(output), "mode": "sample", "num_images": 9, "images_shape": [9, 8, 8, 1]}
    assert SAMPLE_GMM_LINE in result.stdout
    _, expected = client_grid(server, "rest", "columnar", tmp_path / "in-process.png")
    np.testing.assert_array_equal(tf.io.decode_png(output.read_bytes()).numpy(), expected)


@pytest.mark.slow
def test_client_and_server_binaries_refuse_bad_flags(server, tmp_path):
    result = run_python(["-m", "serving.client", "--model_name=vae", f"--server={server['rest']}",
                         "--signature_name=decode"], check=False, timeout=120)
    assert result.returncode != 0 and "must name a sampling signature" in result.stdout
    result = run_python(["-m", "serving.client", "--model_name=nothing", f"--server={server['rest']}"],
                        check=False, timeout=120)
    assert result.returncode != 0 and "NOT_FOUND" in result.stdout
    result = run_python(["-m", "serving.dev_server", f"--model_base_path={tmp_path}/none"], check=False, timeout=120)
    assert result.returncode != 0 and "No servable version of model 'default'" in result.stdout


def test_dev_server_answers_a_wrong_command_line_before_importing_tensorflow():
    # TensorFlow takes seconds to import: the binary checks its flags first, and reports here whether it got that far.
    report = ("import atexit, runpy, sys\n"
              "atexit.register(lambda: print('tensorflow imported:', 'tensorflow' in sys.modules))\n"
              "sys.argv = ['dev_server', '--rest_api_port=8501']\n"
              "runpy.run_module('serving.dev_server', run_name='__main__')\n")
    result = run_python(["-c", report], check=False, timeout=120)
    assert result.returncode != 0 and "Give --model_base_path" in result.stdout, result.stdout
    assert "tensorflow imported: False" in result.stdout, result.stdout


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_interpolation_and_traversal_requests_answer_like_the_live_model(server, protocol):
    """The client's path requests over both protocols: interpolate ends at the prior draws of the two seeds and
    traverse moves one coordinate of one prior draw (the endpoints' math is tested in tests/export)."""
    client = make_client(protocol, server["rest"] if protocol == "rest" else server["grpc"])
    model = server["model"]
    inputs = client_lib.interpolation_inputs(num_paths=2, steps=5, seed=3)
    path = client.predict("vae", inputs, "interpolate")
    assert path["images"].shape == (10, 8, 8, 1)
    ends = model.prior.sample_from_seeds(tf.constant([[3, 0], [3, 1], [3, 2], [3, 3]])).numpy()
    np.testing.assert_allclose(path["latents"][[0, 4, 5, 9]], ends, atol=1e-4)
    np.testing.assert_allclose(path["images"], model.decode(path["latents"]), atol=1e-5)
    assert client_lib.latent_dim_of(client.metadata("vae")) == 3
    walk = client.predict("vae", client_lib.traversal_inputs([0, 2], steps=4, seed=3, span=2.0), "traverse")
    moved = walk["latents"] - ends[0]
    np.testing.assert_allclose(moved[:4, 0], np.linspace(-2, 2, 4), atol=1e-4)
    np.testing.assert_allclose(moved[4:, 2], np.linspace(-2, 2, 4), atol=1e-4)
    np.testing.assert_allclose(moved[:, 1], 0.0, atol=1e-5)
    if protocol == "grpc":
        client.close()


def test_the_client_binary_writes_interpolation_and_traversal_grids(server, tmp_path):
    """The binary's main in-process (absl flags parsed here, removed afterwards): a grid of --steps columns."""
    from absl import flags

    before = set(flags.FLAGS)
    client_lib.define_flags()
    try:
        for mode, rows in (("interpolate", 3), ("traverse", 3)):
            output = tmp_path / f"{mode}.png"
            flags.FLAGS.unparse_flags()
            flags.FLAGS(["serving.client", "--model_name=vae", f"--server={server['rest']}", f"--mode={mode}",
                         "--num_samples=3", "--steps=6", f"--output={output}"])
            client_lib.main(["serving.client"])
            grid = tf.io.decode_png(output.read_bytes()).numpy()
            assert grid.shape[1] > grid.shape[0] and grid.std() > 0, (mode, grid.shape)  # 6 columns, 3 rows
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["serving.client", "--model_name=vae", f"--server={server['rest']}", "--mode=traverse",
                     "--steps=1"])
        with pytest.raises(Exception, match="--steps must be at least 2"):
            client_lib.main(["serving.client"])
    finally:
        flags.FLAGS.unparse_flags()
        for name in set(flags.FLAGS) - before:
            delattr(flags.FLAGS, name)
