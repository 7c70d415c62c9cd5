"""What every absl binary of tfvae shares (it defines no flags, so any binary can import it)."""
import os
import sys
import traceback

from absl import app, logging

from tfvae.training import TrainingDiverged
from tfvae.workdir import WorkdirBusy, WriteFailed

# Errors tfvae raises on purpose for bad input (data, flags, workdirs), for a diverged run, a workdir held by another
# process and a disk that refused a write. Raised from tfvae's own packages they carry a message written for the
# user, so the binaries print it alone; raised anywhere else (inside TensorFlow, say) they are unexpected and keep
# their traceback.
EXPECTED_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, TrainingDiverged, WorkdirBusy, WriteFailed)
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGES = tuple(os.path.join(_ROOT, package) + os.sep for package in ("tfvae", "trainers", "export", "serving"))
TRACEBACK_VARIABLE = "TFVAE_TRACEBACK"


def raised_by_tfvae(error):
    """True when the innermost frame of `error`'s traceback is in one of tfvae's packages."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and os.path.abspath(frames[-1].filename).startswith(_PACKAGES)


def clean_errors(main):
    """Wraps an absl `main`: an expected error (`EXPECTED_ERRORS` raised by tfvae) prints `error: MESSAGE` on stderr
    and exits with status 1, without a traceback (set TFVAE_TRACEBACK=1 to see it); anything else propagates."""
    def guarded(argv):
        try:
            return main(argv)
        except EXPECTED_ERRORS as error:
            if not raised_by_tfvae(error) or os.environ.get(TRACEBACK_VARIABLE):
                raise
            sys.stderr.write(f"error: {error}\n(set {TRACEBACK_VARIABLE}=1 to see where it was raised)\n")
            sys.exit(1)
    return guarded


def run_binary(main):
    """Runs an absl `main` with INFO logging, so long jobs show their progress lines, and clean errors."""
    logging.set_verbosity(logging.INFO)
    app.run(clean_errors(main))
