"""The SNU FastMRI Challenge: each year's rules (`conf/challenge_years/<year>.yaml`) and lesion boxes."""
