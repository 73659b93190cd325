"""Result keys: the names under which metric values land in results, the results table and gate files.

A leaf module (imports nothing from gan_eval), so metric modules and the registry can both use it.
"""

FID = "fid"
IS_MEAN = "is_mean"
IS_STD = "is_std"
KID_MEAN = "kid_mean"
KID_STD = "kid_std"
PRECISION = "precision"
RECALL = "recall"
DENSITY = "density"
COVERAGE = "coverage"

# human evaluation (gan-eval human score; HYPE-infinity, Zhou et al. 2019): error rates of people telling
# generated from real images, 0.5 = indistinguishable
HYPE_INF = "hype_inf"  # error over all scored trials: generated judged real plus real judged generated
HYPE_FAKE_ERROR = "hype_fake_error"  # share of generated images judged real
HYPE_REAL_ERROR = "hype_real_error"  # share of real images judged generated
HYPE_CATCH_PASS = "hype_catch_pass"  # share of catch trials (obviously broken images) answered "generated"
HYPE_FLAGGED = "hype_flagged_sessions"  # sessions excluded for failing the catch trials

# diagnostics
FID_CLIPPED_EIGS = "fid_clipped_eigs"  # number of negative eigenvalues of sigma1 sigma2 clipped to 0
FID_CLIPPED_MASS = "fid_clipped_mass"  # sum of sqrt(|clipped eigenvalue|): what clipping removed from tr sqrt
KID_SUBSET_SIZE = "kid_subset_size"  # the subset size actually used (clamped to min(n_real, n_fake))
KID_SUBSETS = "kid_subsets"

STD_OF = {IS_MEAN: IS_STD, KID_MEAN: KID_STD}
"""The key holding the spread (over splits / subsets) of a value key."""
