"""Scoring: versioned scorecards stored as data, the pure engine, the credit-bureau
adapter, decision records, population stability and the fit of new versions (issue 11)."""
