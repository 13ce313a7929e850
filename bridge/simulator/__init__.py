"""Faithful fake TagMango, TrainerCentral and Zoho accounts servers (WSGI apps).

Used by the tests, `calbridge demo`, `calbridge simulate` and the benchmarks.
"""
