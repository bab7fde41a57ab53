"""The baselines innterpol is compared with (``innterpol evaluate``, the accuracy tables).

- :mod:`.linear`: linear interpolation between grid neighbours, always computed;
- :mod:`.gbm`: gradient boosting on principal components (the paper's LightGBM, Sect. 3.2);
- :mod:`.pca`: a second weights file trained with ``--method pca`` (the paper's PCA-NN).
"""
