"""Challenge submissions: the organisers' repository with this project's model in it (`python -m
fastmri_pl.submit`), the shipped `test_part.py` their harness imports, the model file it reads."""
