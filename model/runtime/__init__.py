"""The optimized inference path around one fused sampler step (:mod:`.step`): the sampling loop
(:mod:`.engine`), its options and per-device defaults (:mod:`.options`), precision (:mod:`.precision`,
shared with training), the CPU runtimes for the network (:mod:`.backend`), batch sizing (:mod:`.memory`)
and progress (:mod:`.progress`). :mod:`model.sampling` stays the reference it is tested against."""

from model.runtime.options import CompileMode, RuntimeOptions
from model.runtime.precision import Precision, default_precision

__all__ = ["CompileMode", "Precision", "RuntimeOptions", "default_precision"]
