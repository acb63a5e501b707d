"""Which values of an exported ONNX model depend on which tensor of the module, proved by perturbation.

The real file is compared, place by place (onnx_graph.py), with exports of copies of the module whose
tensors hold other values. A stored value that changes depends on what was perturbed; no role is ever
decided by a value that merely looks like a tensor's.

1. All tensors at once, with the values of onnx_perturb.py (unique for floating tensors): a changed value
   made only of perturbed values, where the real file holds the real values of the same elements, is a
   copy or rearrangement of those tensors (transposed, split, reordered, merged with an equal one): traced.
2. A changed value that does not trace (arithmetic, casts, integer tensors) is attributed by exporting with
   part of the tensors perturbed, for all such values at once: first the causes the exporter suggests
   (guessed: the dynamo translation, onnx_replay.feeding; the legacy node names, onnx_scopes), then the rest (batched; or each tensor alone where n is at most
   4·log2(n), the bit search's own cost): about 4·log2(n) exports each perturb
   the tensors whose position (or position shifted by half the bit's period) has one bit set or clear, a value
   unchanged in one depends on none of them, and
   the few candidates left per value are perturbed one per value per export (a handful of exports for
   models built of repeated blocks). Each decoded dependency is checked against every export made; a value
   it does not explain goes to the adaptive search: per value, its real content with a part perturbed means
   the part does not matter, its content with all of them perturbed means the rest does not, anything else
   that both do; parts shrink to single tensors (integer and bool tensors, then those that traced nowhere,
   are tried first).
3. An export whose structure differs from the real file's (the alignment check fails) cannot be compared
   place by place. Exporters drop what is zero (an untrained bias, a BatchNorm's running mean), so the
   floating tensors that are all zeros are perturbed alone and, if the others perturbed together keep the
   structure, steps 1-2 run on those; else each tensor is perturbed alone. A tensor whose value alone
   changes the structure is `folded` into it (no stored value carries it); one whose perturbed export
   fails is `error`.
"""
from __future__ import annotations

import copy
import itertools
import math
import time
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Set, Tuple

import torch
from onnx import ModelProto
from torch import nn

from runner.errors import exception_text
from runner.probes.discover import TensorRef, resolve
from runner.probes.onnx_graph import Graph, Stored, aligned, changed_places, parse
from runner.probes.onnx_perturb import Tracer, Unit, holds, units_of


class OutOfBudget(Exception):
    """The provenance budget (export.provenance_budget_s) ran out before every role was proved."""


class Provenance:
    """Carriers (stored value names of the real file, with relation) of each unit."""

    def __init__(self, real: Graph, units: List[Unit], export: Callable[[List[int]], ModelProto],
                 budget_s: float = float("inf"), progress: Optional[Callable[[int], None]] = None):
        self.real, self.units, self.export = real, units, export
        self.carriers: Dict[int, Dict[str, Set[str]]] = defaultdict(lambda: defaultdict(set))
        self.alone: Dict[int, str] = {}   # unit -> "" (perturbed alone) | "structure" | error text
        self.deadline = time.monotonic() + budget_s
        self.exports = 0                  # perturbed exports made (the export_provenance_exports column)
        self.progress = progress

    def export_with(self, members: List[int]) -> Tuple[Optional[Graph], str]:
        """The parsed export of a copy with these units perturbed, or (None, why) when it cannot be compared.
        Raises OutOfBudget once the budget is spent: what is not proved by then is never guessed."""
        if time.monotonic() > self.deadline:
            raise OutOfBudget()
        self.exports += 1
        if self.progress is not None:
            self.progress(self.exports)
        try:
            graph = parse(self.export(members))
        except Exception as exc:
            return None, exception_text(exc)
        return (graph, "") if aligned(self.real, graph) else (None, "structure")

    def single(self, i: int) -> None:
        if i in self.alone:
            return
        graph, why = self.export_with([i])
        self.alone[i] = why
        if graph is not None:
            u = self.units[i]
            for place, a, b in changed_places(self.real, graph):
                same = holds(b, u.perturbed) and holds(a, u.real)
                self.carriers[i][a.name].add("same" if same else "folded")

    def search(self, ref: Dict[tuple, Stored], members: List[int]) -> None:
        """Attribute changed places to single members. ref: each place's value when exactly these members
        are perturbed (it differs from the real file's). Perturbing a part alone tells, per place, whether
        the part is irrelevant (the real value), the rest is (ref's value), or both matter."""
        if len(members) == 1:
            u = self.units[members[0]]
            for place, b in ref.items():
                a = self.real.stored_at(place)
                same = holds(b, u.perturbed) and holds(a, u.real)
                self.carriers[members[0]][a.name].add("same" if same else "folded")
            return
        parts = _split(members, self.units, self.carriers)
        first, second = {}, {}
        graph, _ = self.export_with(parts[0])
        if graph is None:
            for i in members:
                self.single(i)
            return
        both = []
        for place, b in ref.items():
            value, real = graph.stored_at(place), self.real.stored_at(place)
            if value.same_content(real):
                second[place] = b
            else:
                first[place] = value
                if not value.same_content(b):
                    both.append(place)
        if len(parts[1]) == 1:  # the rest is one tensor, and it matters: folded with the others, unless
            rest = self.units[parts[1][0]]  # the value is exactly its own (views of one memory)
            for place in [p for p in both if not holds(ref[p], rest.perturbed)]:
                self.carriers[parts[1][0]][self.real.stored_at(place).name].add("folded")
                both.remove(place)
        if both:
            graph, _ = self.export_with(parts[1])
            if graph is None:
                for i in parts[1]:
                    self.single(i)
                second = {}
            for place in both if graph is not None else ():
                if not graph.stored_at(place).same_content(self.real.stored_at(place)):
                    second[place] = graph.stored_at(place)
        for part, places in zip(parts, (first, second)):
            if places:
                self.search(places, part)

    def run(self) -> None:
        members = [i for i, u in enumerate(self.units) if u.perturbed is not None]
        if not members:
            return
        graph, _ = self.export_with(members)
        if graph is None:  # cannot be compared place by place: the zeros apart, else each tensor alone
            zeros = [i for i in members if self.units[i].unique and not self.units[i].real.any()]
            rest = [i for i in members if i not in zeros]
            graph = self.export_with(rest)[0] if zeros and rest else None
            for i in zeros if graph is not None else members:
                self.single(i)
            if graph is None:
                return
            members = rest
        tracer, untraced = Tracer(self.units), {}
        for place, a, b in changed_places(self.real, graph):
            hits = tracer.trace(a, b)
            if hits is None:
                untraced[place] = b
            for i, relation in hits or ():
                self.carriers[i][a.name].add(relation)
        if untraced:
            feeds = self.export.feeds(self.real) if hasattr(self.export, "feeds") else {}
            left = self.guessed(untraced, members, feeds) if feeds else untraced
            if left and len(members) <= 4 * (len(members) - 1).bit_length():  # the bit search costs more
                for i in members:
                    self.single(i)
                return
            left = self.batched(left, members) if left else {}
            if left:
                self.search(left, members)

    def _observe(self, subset: Set[int], places, tests: list) -> bool:
        """Export with subset perturbed and note, per place, whether its value changed; False when the
        export cannot be compared place by place."""
        graph, _ = self.export_with(sorted(subset))
        if graph is None:
            return False
        tests.append((subset, {p: not graph.stored_at(p).same_content(self.real.stored_at(p)) for p in places}))
        return True

    def _decoded(self, place: tuple, b: Stored, found: Set[int], tests: list) -> bool:
        """Attribute place (b: its value with every member perturbed) to found, if every export made agrees
        (the place changed exactly where one of them was perturbed) and each has unique perturbed values."""
        if not found or any(changed[place] != bool(subset & found) for subset, changed in tests) \
                or any(not self.units[i].unique for i in found):
            return False
        a = self.real.stored_at(place)
        for i in found:
            same = len(found) == 1 and holds(b, self.units[i].perturbed) and holds(a, self.units[i].real)
            self.carriers[i][a.name].add("same" if same else "folded")
        return True

    def guessed(self, untraced: Dict[tuple, Stored], members: List[int],
                feeds: Dict[int, Set[int]]) -> Dict[tuple, Stored]:
        """Attribute the untraced places whose causes a guess names (feeds: computing node -> the units
        upstream of it in the exporter's translation), with O(log groups) + max group size exports: the
        guesses that overlap form groups; export t perturbs the groups whose code (m // 2 of m positions, so
        no code lies inside another: _antichain) holds t, and every member outside all groups, so a place
        that stays as in the real file whenever its group is not perturbed depends on nothing outside the
        group (those exports perturb everything else between them); then each export perturbs the
        k-th member of every group, so a place that changes depends on that member. Every observation is
        checked against the decoded dependencies; the places that do not fit are returned for batched()."""
        chosen = set(members)
        guess = {p: feeds[p[0]] & chosen for p in untraced
                 if isinstance(p[0], int) and feeds.get(p[0], set()) & chosen}
        groups: List[Set[int]] = []
        for h in sorted({frozenset(h) for h in guess.values()}, key=min):
            groups = [g for g in groups if not g & h] + [set(h).union(*[g for g in groups if g & h])]
        if not groups:
            return untraced
        groups.sort(key=lambda g: min(natural_key(self.units[i].paths[0]) for i in g))
        group_of = {i: k for k, g in enumerate(groups) for i in g}
        outside = chosen - set(group_of)
        positions, codes = _antichain(len(groups))
        plans = [outside | {i for g, code in zip(groups, codes) if t in code for i in g} for t in range(positions)]
        plans = [p for p in plans if p]
        ordered = [sorted(g, key=lambda i: natural_key(self.units[i].paths[0])) for g in groups]
        plans += [{g[k] for g in ordered if len(g) > k} for k in range(max(map(len, ordered)))]
        tests: List[Tuple[Set[int], Dict[tuple, bool]]] = []
        for plan in plans:
            if not self._observe(plan, untraced, tests):
                return untraced
        left = {}
        for p, b in untraced.items():
            group = groups[group_of[next(iter(guess[p]))]] if p in guess else None
            apart = [(subset, changed[p]) for subset, changed in tests if group is not None and not subset & group]
            if group is None or any(c for _, c in apart) or chosen - group - set().union(*[s for s, _ in apart]):
                left[p] = b  # no guess, or it depends on (or was not tested against) something outside the group
                continue
            found = {i for subset, changed in tests if changed[p] and len(subset & group) == 1
                     for i in subset & group}
            if not self._decoded(p, b, found, tests):
                left[p] = b
        return left

    def batched(self, untraced: Dict[tuple, Stored], members: List[int]) -> Dict[tuple, Stored]:
        """Attribute the untraced places all at once, with O(log n) exports: each perturbs the members
        whose position has bit j set (or clear), so a place unchanged in it depends on none of them; the
        few candidates left per place are then perturbed one per place per export. Every observation is
        checked against the decoded dependencies; the places it cannot decode (a structure that changes,
        a value that needs two tensors changed together, views of one memory) are returned for search()."""
        tests: List[Tuple[Set[int], Dict[tuple, bool]]] = []
        members = sorted(members, key=lambda i: natural_key(self.units[i].paths[0]))  # neighbours, close codes

        def observe(subset: Set[int]) -> bool:
            return self._observe(subset, untraced, tests)

        candidates = {p: set(members) for p in untraced}
        for j in range((len(members) - 1).bit_length()):
            # bit j of the position, and of the position shifted by half a period: neighbours that straddle
            # a boundary of one coding share the bit in the other, so no place keeps every tensor as candidate
            for shift, bit in [(s, b) for s in ([0] if j == 0 else [0, 1 << (j - 1)]) for b in (0, 1)]:
                if not observe({m for k, m in enumerate(members) if ((k + shift) >> j) & 1 == bit}):
                    return untraced
                for p, changed in tests[-1][1].items():
                    if not changed:
                        candidates[p] -= tests[-1][0]
        open_ = {(p, c) for p, cs in candidates.items() if len(cs) > 1 for c in cs
                 if not any(cs & subset == {c} for subset, _ in tests)}
        while open_:
            chosen, planned = set(), set()
            for p, c in sorted(open_, key=lambda pc: (str(pc[0]), pc[1])):
                if p in planned or candidates[p] & chosen or any(c in candidates[q] for q in planned):
                    continue
                chosen.add(c)
                planned.add(p)
            if not observe(chosen):
                return untraced
            open_ -= {(p, next(iter(cs & chosen))) for p, cs in candidates.items() if len(cs & chosen) == 1}
        left = {}
        for p, b in untraced.items():
            found = set(candidates[p])
            if len(found) > 1:
                found = {c for c in found for subset, changed in tests
                         if candidates[p] & subset == {c} and changed[p]}
            if not self._decoded(p, b, found, tests):
                left[p] = b
        return left


def _antichain(n: int) -> Tuple[int, List[Tuple[int, ...]]]:
    """(m, n distinct sets of positions below m, none inside another): the sets of size m // 2 of the fewest
    m positions that have n of them. For every set, the positions outside it meet every other set."""
    m = 1
    while math.comb(m, m // 2) < n:
        m += 1
    return m, list(itertools.islice(itertools.combinations(range(m), m // 2), n))


def natural_key(path: str) -> tuple:
    """features.10.weight after features.9.bias: the tensors of one submodule, and of neighbouring ones,
    get neighbouring positions (the tensors a folded value combines usually live side by side)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in path.split("."))


def _split(members: List[int], units: List[Unit], traced) -> Tuple[List[int], List[int]]:
    """The likely causes of untraced values first: integer and bool tensors (perturbed without unique
    values), else the tensors that traced nowhere, apart from the others; else halves."""
    for suspect in (lambda i: not units[i].unique, lambda i: not traced.get(i)):
        first = [i for i in members if suspect(i)]
        if 0 < len(first) < len(members):
            return first, [i for i in members if not suspect(i)]
    half = len(members) // 2
    return members[:half], members[half:]


def by_copy(module: nn.Module, units: List[Unit],
            export: Callable[[nn.Module], ModelProto]) -> Callable[[List[int]], ModelProto]:
    """Perturbed exports made as the real one was: a copy of module with those units' perturbed values."""
    def export_members(members: List[int]) -> ModelProto:
        copied = copy.deepcopy(module)
        with torch.no_grad():
            for i in members:
                target = resolve(copied, units[i].refs[0])
                target.copy_(units[i].perturbed.to(target.device))
        return export(copied)
    return export_members


def locate(real_model: ModelProto, module: nn.Module, refs: List[TensorRef], names: Dict[str, List[str]],
           export: Callable[[nn.Module], ModelProto], budget_s: float = float("inf"),
           progress: Optional[Callable[[int], None]] = None,
           perturbed: Callable = by_copy) -> Dict[str, dict]:
    """Per path: export_role and export_name in the real file, and export_provenance_exports. module holds
    the values it was exported with; export(copy) exports a copy as configured and loads the result back;
    perturbed(module, units, export) gives the perturbed exports (members -> model), by_copy or one that
    provably gives the same files (onnx_replay.Replaying).
    When budget_s runs out, the roles that later evidence could still change are `unproven`."""
    real = parse(real_model)
    units = units_of(module, refs, names)
    export_members = perturbed(module, units, export)
    prov = Provenance(real, units, export_members, budget_s, progress)
    try:
        prov.run()
        spent = False
    except OutOfBudget:
        spent = True
    module_paths = {p for u in units for p in u.paths}
    holders: Dict[str, Set[int]] = defaultdict(set)  # stored name -> units whose value it holds unchanged
    for i, found in prov.carriers.items():
        for name, relations in found.items():
            if "same" in relations:
                holders[name].add(i)
    out = {}
    for i, u in enumerate(units):
        carriers = {name: set(rel) for name, rel in prov.carriers.get(i, {}).items()}
        for p in u.paths:  # by name: a graph input without a stored value, an empty tensor's initializer
            if p in real.inputs and p not in real.stored:
                carriers.setdefault(p, set()).add("same")
            elif u.perturbed is None and p in real.stored and holds(real.stored[p], u.real):
                carriers.setdefault(p, set()).add("same")
        row = {"export_role": _role(carriers, u.paths, real, holders, i, module_paths),
               "export_name": ";".join(sorted(carriers))}
        why = prov.alone.get(i, "")
        if why and not carriers:
            row = {"export_role": "folded", "export_name": ""} if why == "structure" else \
                {"export_role": "error", "export_error": f"locating: the export with it perturbed failed: {why}"}
        elif u.why and not carriers:
            row = {"export_role": "error", "export_error": f"locating: cannot perturb it: {u.why}"}
        if spent and row["export_role"] not in ("input", "initializer"):  # these outrank all later evidence
            row = {"export_role": "unproven", "export_name": row.get("export_name", ""),
                   "export_error": f"locating: the provenance budget of {budget_s:g} s ran out after "
                                   f"{prov.exports} perturbed exports (export.provenance_budget_s)"}
        row["export_provenance_exports"] = prov.exports
        row["export_provenance_replays"] = getattr(export_members, "replays", 0)
        for r in u.refs:
            out[r.path] = dict(row)
    for r in refs:  # a path that holds no tensor now
        out.setdefault(r.path, {"export_role": "absent", "export_name": "", "export_provenance_exports": prov.exports,
                                "export_provenance_replays": getattr(export_members, "replays", 0)})
    return out


def _role(carriers: Dict[str, Set[str]], paths: List[str], real: Graph, holders: Dict[str, Set[int]], i: int,
          module_paths: Set[str]) -> str:
    """input | initializer (named after the tensor, holding its value) | constant (holding its value under
    another name, for no other tensor) | folded (anything else that depends on it) | absent."""
    same = [n for n, relations in carriers.items() if "same" in relations]
    own = [n for n in same if n in paths]
    if any(n in real.inputs for n in own):
        return "input"
    if any(real.stored[n].kind == "initializer" for n in own if n in real.stored):
        return "initializer"
    others = module_paths - set(paths)
    if any(n not in others and holders.get(n, {i}) == {i} for n in same):
        return "constant"
    return "folded" if carriers else "absent"
