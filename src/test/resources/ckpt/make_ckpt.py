"""Writes the small PyTorch checkpoints the .ckpt reader tests use (Debian python3-torch 1.13).

Run from this folder: python3 make_ckpt.py. The values are arange-based so the Java tests can
assert them exactly. Not part of the product or of the test run.
"""
import collections
import os

import torch


def state_dict():
    sd = collections.OrderedDict()
    sd["f32"] = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd["f16"] = (torch.arange(6, dtype=torch.float32) / 4).to(torch.float16).reshape(2, 3)
    sd["i64"] = torch.arange(5, dtype=torch.int64)
    base = torch.arange(10, dtype=torch.float32) * 10
    sd["view_a"] = base[2:6]          # storage offset 2 into a shared storage
    sd["view_b"] = base[6:10]
    sd["param"] = torch.nn.Parameter(torch.ones(2, 2) * 7)
    sd["scalar"] = torch.tensor(3.5)
    sd._metadata = collections.OrderedDict(x=dict(version=1))  # pickled via BUILD, as real state dicts are
    return sd


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/tenstep-ckpt-pwned",))


torch.save({"state_dict": state_dict(), "global_step": 110000, "epoch": 3}, "small.ckpt")
torch.save(state_dict(), "bare.ckpt", pickle_protocol=4)  # no 'state_dict' level; STACK_GLOBAL opcodes
torch.save({"state_dict": state_dict(), "payload": Evil()}, "malicious.ckpt")
torch.save({"state_dict": state_dict(), "payload": Evil()}, "malicious-p4.ckpt", pickle_protocol=4)
torch.save({"state_dict": {"t": torch.arange(6, dtype=torch.float32).reshape(2, 3).t()}}, "noncontiguous.ckpt")
torch.save({"state_dict": {"u8": torch.arange(4, dtype=torch.uint8)}}, "uint8.ckpt")
