"""pythae (the PyTorch library of generative autoencoders a user would reach for) training the throughput benchmark's
conv net: `pythae.pipelines.TrainingPipeline` with its VAE (Bernoulli likelihood) or RAE_L2 (its coupled-optimizer
trainer, weight decay on the decoder's optimizer), batch 100, Adam 1e-3, the same Fashion-MNIST images as NumPy.
Used only by benchmarks/train_throughput.py when pythae is installed (`pip install -e ".[bench]" -c
constraints.txt`); tfvae never imports torch.

The networks are benchmarks/torch_reference.py's, wrapped in pythae's encoder/decoder interface. The weights follow
tfvae's defaults converted to pythae's units: the RAE's latent penalty weight beta (`embedding_weight`), and
weight decay lambda * ||theta||^2 as Adam's `weight_decay` = 2 lambda (on every decoder parameter, which pythae
decays; tfvae decays kernels only). A run's epochs are timed by a pythae callback around each epoch, so they include
what pythae does per epoch (its progress bar, keeping a copy of the best model).
"""
import tempfile
import time

from benchmarks import torch_reference

# tfvae's RAEL2 defaults (tfvae/models/rae_l2.py).
RAE_L2_BETA = 0.0128
RAE_L2_WEIGHT_DECAY = 1.024e-4


def rates(model_name, images, epochs, batch=100, latent_dim=16, between_epochs=None):
    """images/second of each epoch after the first; `model_name` is "vae" or "rae_l2". `between_epochs`, if given,
    is called at the end of each epoch, after its timing (train_throughput marks its CPU use there)."""
    import numpy as np
    from pythae.models import RAE_L2, VAE, RAE_L2_Config, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig, CoupledOptimizerTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    if model_name not in ("vae", "rae_l2"):
        raise ValueError(f"The pythae reference trains vae or rae_l2. Received: model_name={model_name!r}")
    # pythae's VAE takes the decoder's probabilities (binary cross-entropy); its RAE a mean in [0, 1] as tfvae's.
    encoder_net, decoder_net = torch_reference.networks(model_name, latent_dim, sigmoid_output=True)

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = encoder_net

        def forward(self, x):
            h = self.net(x)
            if model_name == "vae":
                mean, log_var = h.chunk(2, dim=1)
                return ModelOutput(embedding=mean, log_covariance=log_var)
            return ModelOutput(embedding=h)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = decoder_net

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    class EpochTimer(TrainingCallback):
        def __init__(self):
            self.seconds = []

        def on_epoch_begin(self, training_config, **kwargs):
            self.started = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs):
            self.seconds.append(time.perf_counter() - self.started)
            if between_epochs is not None:
                between_epochs()

    input_dim = (1,) + tuple(images.shape[1:3])
    with tempfile.TemporaryDirectory() as output_dir:
        common = dict(output_dir=output_dir, per_device_train_batch_size=batch, num_epochs=epochs, no_cuda=True,
                      seed=0)
        if model_name == "vae":
            model = VAE(VAEConfig(input_dim=input_dim, latent_dim=latent_dim, reconstruction_loss="bce"),
                        encoder=Encoder(), decoder=Decoder())
            config = BaseTrainerConfig(learning_rate=1e-3, **common)
        else:
            model = RAE_L2(RAE_L2_Config(input_dim=input_dim, latent_dim=latent_dim, embedding_weight=RAE_L2_BETA,
                                         reg_weight=2 * RAE_L2_WEIGHT_DECAY), encoder=Encoder(), decoder=Decoder())
            config = CoupledOptimizerTrainerConfig(encoder_learning_rate=1e-3, decoder_learning_rate=1e-3, **common)
        timer = EpochTimer()
        TrainingPipeline(model=model, training_config=config)(
            train_data=np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2))), callbacks=[timer])
    steps = len(images) // batch
    return [steps * batch / seconds for seconds in timer.seconds[1:]]
