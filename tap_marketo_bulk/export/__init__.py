"""The bulk export engine: windows, jobs, downloads, the scheduler, quota.

Knows nothing of Singer.
"""
