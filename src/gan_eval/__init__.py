"""gan-eval: trustworthy, fast evaluation of generative image models (FID, IS, KID, PR, DC)."""

__version__ = "0.1.0"

__all__ = ["Tracker", "__version__", "evaluate"]


def __getattr__(name: str):  # lazy: `import gan_eval` must stay cheap (no torch import)
    if name == "evaluate":
        from gan_eval.pipeline import evaluate

        return evaluate
    if name == "Tracker":
        from gan_eval.tracker import Tracker

        return Tracker
    raise AttributeError(name)
