"""nnfast.data — loading, splitting, scaling, rebalancing and augmenting training data.

PyTorch names for loading (torch.utils.data): Dataset, TensorDataset, DataLoader, samplers
(DistributedSampler included), Subset, random_split. scikit-learn / imbalanced-learn names for
the rest: train_test_split, StandardScaler, MinMaxScaler, compute_class_weight,
RandomOverSampler, RandomUnderSampler, SMOTE. Augmentation in nnfast.data.transforms.

    from nnfast.data import TensorDataset, DataLoader, train_test_split, StandardScaler
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    scaler = StandardScaler().fit(Xtr)
    loader = DataLoader(TensorDataset(scaler.transform(Xtr), ytr), batch_size=64,
                        shuffle=True, generator=0)
    for xb, yb in loader: ...
"""
from . import transforms
from .dataloader import DataLoader, default_collate, default_convert, get_worker_info
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset,
                      Subset, TensorDataset, random_split)
from .distributed import DistributedSampler
from .imbalance import (SMOTE, RandomOverSampler, RandomUnderSampler, compute_class_weight,
                        compute_pos_weight, compute_sample_weight, kneighbors)
from .preprocessing import MinMaxScaler, StandardScaler
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                      SubsetRandomSampler, WeightedRandomSampler)
from .split import train_test_split
from .transforms import Compose, GaussianNoise, Mixup, RandomShift, mixup_criterion

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "ChainDataset", "StackDataset", "random_split", "DataLoader", "default_collate",
           "default_convert", "get_worker_info",
           "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DistributedSampler", "train_test_split",
           "StandardScaler", "MinMaxScaler",
           "compute_class_weight", "compute_sample_weight", "compute_pos_weight",
           "RandomOverSampler", "RandomUnderSampler", "SMOTE", "kneighbors",
           "transforms", "Compose", "GaussianNoise", "RandomShift", "Mixup", "mixup_criterion"]
