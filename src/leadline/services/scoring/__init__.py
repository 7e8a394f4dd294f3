"""Rule-based scoring use cases: model versions, real time, bulk rescoring, decay, explanation."""
