"""The MRI math in pure torch: no Lightning, nothing else of ours imported."""
