"""Credits: schedules (FRENCH, GERMAN, BULLET), CAE and investor projections.

Pure calculation: no database, no GraphQL. See ``docs/credits-math.md``.
"""
