"""research/router_soup.py: the soup's weights are the mean of its routers' weights."""

from __future__ import annotations

import pytest
import torch
from research_script import load_research_script

from retrieval.router_train import FittedRouter

rs = load_research_script("router_soup")


def _router(scale: float, labels: tuple[str, ...] = ("a", "b")) -> FittedRouter:
    encoder = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    with torch.no_grad():
        for p in encoder.parameters():
            p.fill_(scale)
    return FittedRouter(None, encoder, torch.full((2, 3), scale), torch.full((2,), -scale), labels, 16)


def test_the_soup_averages_every_weight_and_the_head() -> None:
    a, b, c = _router(1.0), _router(2.0), _router(6.0)
    souped = rs.soup([a, b, c])
    for p in souped.encoder.parameters():
        assert torch.allclose(p, torch.full_like(p, 3.0))
    assert torch.allclose(souped.weight, torch.full((2, 3), 3.0))
    assert torch.allclose(souped.bias, torch.full((2,), -3.0))
    # The routers souped are left as they were.
    assert all(torch.allclose(p, torch.full_like(p, 1.0)) for p in a.encoder.parameters())
    assert souped.labels == ("a", "b") and souped.max_len == 16


def test_a_soup_of_one_router_is_that_router() -> None:
    one = _router(0.5)
    x = torch.randn(4, 3)
    assert torch.allclose(rs.soup([one]).encoder(x), one.encoder(x))


def test_routers_with_other_labels_cannot_be_souped() -> None:
    with pytest.raises(ValueError, match="labels"):
        rs.soup([_router(1.0), _router(1.0, labels=("b", "a"))])
