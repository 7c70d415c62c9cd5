"""What every absl binary of tfvae shares (it defines no flags, so any binary can import it)."""
from absl import app, logging


def run_binary(main):
    """Runs an absl `main` with INFO logging, so long jobs show their progress lines."""
    logging.set_verbosity(logging.INFO)
    app.run(main)
