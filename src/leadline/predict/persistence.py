"""Saving and loading models with skops: a format that does not run code on load. Only the types below are
trusted; a file naming any other type is refused (never plain pickle, whatever the file's origin)."""

from __future__ import annotations

import skops.io as sio

from leadline.predict.models import LeadModel

#: Every type a `LeadModel` is made of that skops does not trust by default.
TRUSTED_TYPES: tuple[str, ...] = (
    "leadline.predict.models.LeadModel",
    "leadline.predict.models.Calibrator",
    "leadline.predict.models.FrequencyNaiveBayes",
    "leadline.predict.features.FeatureSpec",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    # HistGradientBoosting keeps `partial(check_array, ...)` for its categorical preprocessing; skops
    # reconstructs the partial of that one function without running anything else.
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "numpy.dtype",
    "builtins.float",
    "builtins.int",
    "builtins.str",
    "builtins.NoneType",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.bool",
)


class UntrustedModel(ValueError):
    """The file holds types outside `TRUSTED_TYPES`: it was not written by Leadline, or by another version."""


def dumps(model: LeadModel) -> bytes:
    return bytes(sio.dumps(model))


def loads(data: bytes) -> LeadModel:
    unknown = [t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_TYPES]
    if unknown:
        raise UntrustedModel(f"refusing to load a model with untrusted types: {', '.join(sorted(unknown))}")
    model = sio.loads(data, trusted=list(sio.get_untrusted_types(data=data)))
    if not isinstance(model, LeadModel):
        raise UntrustedModel(f"not a Leadline model: {type(model).__name__}")
    return model
