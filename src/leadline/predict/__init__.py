"""Predictive lead scoring: a calibrated conversion probability learned from a workspace's own history.

Pure maths on pandas frames, no database: `features` (what a column is and how it is encoded), `models` (the
candidates, the choice on a time-ordered validation fold, calibration), `evaluation` (the report), `reasons`
(per-lead top factors in probability terms) and `persistence` (skops, trusted types listed explicitly).
The product path (training data from `stage_transitions` and `events`, model versions, bulk scoring) is in
`leadline.services.predict`.
"""
