"""`make bench`: Relayman's speed as ratios to a hand-written floor, measured in one run."""
