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

# diagnostics
FID_CLIPPED_EIGS = "fid_clipped_eigs"  # number of negative eigenvalues of sigma1 sigma2 clipped to 0
FID_CLIPPED_MASS = "fid_clipped_mass"  # sum of sqrt(|clipped eigenvalue|): what clipping removed from tr sqrt
KID_SUBSET_SIZE = "kid_subset_size"  # the subset size actually used (clamped to min(n_real, n_fake))
KID_SUBSETS = "kid_subsets"

STD_OF = {IS_MEAN: IS_STD, KID_MEAN: KID_STD}
"""The key holding the spread (over splits / subsets) of a value key."""
