"""Child process of the interrupted-export test (which also calls `export` in-process): exports a golden model; with
`--hang` it blocks in the middle of writing the new version (after the SavedModel files, before the metadata and the
rename) so the parent can kill it.

argv: EXPORT_BASE [--hang]
"""
import sys
import time

from tfvae.export import saved_model
from tests import goldens
from tfvae.density import PriorSampler


def export(base):
    """Exports the golden VAE with its prior sampler to BASE/vae/NEXT_VERSION; returns the version path (always a
    new version: the golden's weights never change, and it is the writing that is under test)."""
    model, _ = goldens.build_golden("vae")
    return saved_model.export_saved_model(model, {"prior": PriorSampler(model.prior)}, "prior", base, "vae",
                                          reuse_unchanged=False)


def main(base, hang):
    if hang:
        def block(*args, **kwargs):
            print("writing", flush=True)
            time.sleep(600)

        saved_model.json.dump = block
    print(export(base), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], "--hang" in sys.argv[2:])
