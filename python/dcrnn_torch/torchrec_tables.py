"""The embedding tables of a model, sharded by TorchRec (--sharding torchrec).

TorchRecTables puts every embedding table of a dcrnn_torch model into one
TorchRec EmbeddingBagCollection (one table per model table, mean pooling,
one feature key per table) and shards it table-wise across the processes
of the process group: table k lives on rank k mod W, with TorchRec's dense
compute kernel, so that each table's rows are a plain tensor on its owner.
A lookup sends the ids of every process to the tables' owners and the
pooled rows back (TorchRec's all-to-all); in the backward pass the owners
receive the gradient rows of the whole global batch. The owner of a table
updates it with the trainer's lazy sparse Adam, on the rows the global
batch touched.

The model keeps its own table parameters (under their model-file names):
sync() copies every table from its owner into them on every process, for
evaluation, snapshots and the model file, so the file written has the same
tensors as without sharding.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor, PoolingType
from torchrec.distributed.comm_ops import get_gradient_division
from torchrec.distributed.shard import shard
from torchrec.distributed.sharding_plan import construct_module_sharding_plan, table_wise
from torchrec.distributed.types import ShardingEnv


def table_fields(model) -> list[int]:
    """The field index of every embedding table of model (in sparse_names order)."""
    out = []
    for name in model.sparse_names:
        best = None
        for i, f in enumerate(model.spec.fields):
            if f.kind != "numeric" and name.endswith("." + f.name) and (best is None or len(f.name) > len(model.spec.fields[best].name)):
                best = i
        if best is None:
            raise ValueError(f"embedding table {name}: no field of the schema matches it")
        out.append(best)
    return out


class TorchRecTables:
    def __init__(self, model, device: torch.device):
        self.model = model
        self.device = device
        self.world = dist.get_world_size()
        self.rank = dist.get_rank()
        self.fields = table_fields(model)
        self.keys = [f"f{k}" for k in range(len(model.sparse_names))]
        tabs = []
        for k, name in enumerate(model.sparse_names):
            w = model.p(name)
            tabs.append(EmbeddingBagConfig(name=f"t{k}", embedding_dim=w.shape[1], num_embeddings=w.shape[0],
                                           feature_names=[self.keys[k]], pooling=PoolingType.MEAN))  # fmt: skip
        ebc = EmbeddingBagCollection(tables=tabs, device=torch.device("meta"))
        self.owner = [k % self.world for k in range(len(tabs))]
        per = {f"t{k}": table_wise(rank=self.owner[k], compute_kernel="dense") for k in range(len(tabs))}
        plan = construct_module_sharding_plan(ebc, per, world_size=self.world, device_type=device.type)
        self.ebc = shard(ebc, plan, ShardingEnv.from_process_group(dist.group.WORLD), device)
        params = dict(self.ebc.named_parameters())
        # The rows of the tables this rank owns (None for the others), set to
        # the model's initial weights (the same on every rank).
        self.local: list[torch.Tensor | None] = []
        for k, name in enumerate(model.sparse_names):
            p = params[f"embedding_bags.t{k}.weight"] if self.owner[k] == self.rank else None
            if p is not None:
                with torch.no_grad():
                    p.copy_(model.p(name).detach())
            self.local.append(p)

    def lookup(self, batch) -> dict[str, torch.Tensor]:
        """The pooled rows of this process's batch: {table name: [n, d]}."""
        vals, lens = [], []
        for i in self.fields:
            x = batch.fields[i]
            if isinstance(x, tuple):
                ids, off = x
                vals.append(ids.long())
                lens.append((off[1:] - off[:-1]).long())
            else:
                vals.append(x.long())
                lens.append(torch.ones(x.shape[0], dtype=torch.long, device=x.device))
        kjt = KeyedJaggedTensor.from_lengths_sync(keys=self.keys, values=torch.cat(vals), lengths=torch.cat(lens))
        out = self.ebc(kjt)
        if hasattr(out, "wait"):
            out = out.wait()
        d = out.to_dict()
        return {name: d[self.keys[k]] for k, name in enumerate(self.model.sparse_names)}

    def touched(self, batch) -> list[torch.Tensor]:
        """Per table, the rows the global batch touched (on its owner; empty elsewhere)."""
        out = []
        for k, i in enumerate(self.fields):
            p = self.model.p(self.model.sparse_names[k])
            mask = torch.zeros(p.shape[0], dtype=torch.int32, device=self.device)
            x = batch.fields[i]
            mask[x[0] if isinstance(x, tuple) else x] = 1
            dist.reduce(mask, dst=self.owner[k], op=dist.ReduceOp.MAX)
            out.append(torch.nonzero(mask, as_tuple=True)[0] if self.owner[k] == self.rank else None)
        return out

    def grads(self, touched):
        """Per table, (rows, gradient rows of the global batch's mean loss), (None, None) where not owned.

        The local losses are scaled for DDP's average; TorchRec's all-to-all
        divides the gradients it sends back by the world size as well (its
        gradient division, on by default), so that they are the global ones."""
        out = []
        for k, p in enumerate(self.local):
            if p is None or p.grad is None:
                out.append((None, None))
                continue
            rows = touched[k]
            g = p.grad[rows]
            out.append((rows, g if get_gradient_division() else g / self.world))
        return out

    def zero_grad(self):
        for p in self.local:
            if p is not None:
                p.grad = None

    @torch.no_grad()
    def sync(self):
        """Copies every table from its owner into the model's table parameters, on every rank."""
        for k, name in enumerate(self.model.sparse_names):
            w = self.model.p(name)
            if self.owner[k] == self.rank:
                w.copy_(self.local[k].detach())
            dist.broadcast(w.data, src=self.owner[k])
