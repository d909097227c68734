"""The API, resource by resource: each class wraps one group of endpoints.

Every method here is written once, async; the sync ``Client`` gets its twin
from ``scripts/generate_sync.py``.
"""
