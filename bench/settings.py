"""Relayman's settings plus the benchmark's bare Django view at POST /bare."""

from relayman_project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_django"
