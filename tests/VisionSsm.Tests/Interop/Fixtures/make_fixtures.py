# Regenerates the PyTorch fixtures read by PyTorchCheckpointTests (run with Debian's python3-torch:
# `apt-get install python3-torch && python3 make_fixtures.py`). Values are simple formulas the C# test recomputes.
import argparse
import collections
import torch

big = torch.arange(10, dtype=torch.float32) * 0.5          # shared storage for a slice with an offset
sd = collections.OrderedDict()
sd["weight"] = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8
sd["transposed"] = (torch.arange(6, dtype=torch.float32).reshape(2, 3) - 2).t()   # non-contiguous (3, 2)
sd["slice"] = big[2:5]                                        # storage offset 2
sd["big"] = big
sd["half"] = torch.tensor([1.5, -2.25], dtype=torch.float16)
sd["bf16"] = torch.tensor([0.5, 3.0], dtype=torch.bfloat16)
sd["double"] = torch.tensor([[1e-3, 2e10]], dtype=torch.float64)
sd["num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
sd["mask"] = torch.tensor([True, False, True])
sd["param"] = torch.nn.Parameter(torch.full((2,), -1.0))
torch.save(sd, "state_dict.pt")
torch.save({"model": sd, "epoch": 3, "args": argparse.Namespace(lr=0.001)}, "checkpoint.pt")
