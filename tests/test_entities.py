from pathlib import Path

import pytest
import yaml

from threadvault.entities import extract, normalise_tag

CASES = yaml.safe_load((Path(__file__).parent / "data" / "entities.yml").read_text(encoding="utf-8"))


def ids(cases):
    return [case["description"] for case in cases]


@pytest.mark.parametrize("case", CASES["hashtags"], ids=ids(CASES["hashtags"]))
def test_hashtags(case):
    assert list(extract(case["text"]).hashtags) == case["expected"]


@pytest.mark.parametrize("case", CASES["mentions"], ids=ids(CASES["mentions"]))
def test_mentions(case):
    assert list(extract(case["text"]).mentions) == case["expected"]


@pytest.mark.parametrize("case", CASES["links"], ids=ids(CASES["links"]))
def test_links(case):
    links = extract(case["text"]).links
    assert [link.url for link in links] == case["expected"]
    if "display" in case:
        assert [link.display_text for link in links] == case["display"]
    assert all(link.truncated == (link.url is None) for link in links)


@pytest.mark.parametrize("case", CASES["normalise"], ids=[case["tag"] for case in CASES["normalise"]])
def test_normalise_tag(case):
    assert normalise_tag(case["tag"]) == case["expected"]


def test_a_text_of_megabytes_with_thousands_of_links():
    """Each sign was checked against every link of the text: a 2 MB post took minutes (now linear)."""
    text = "See #WebArchiving with @someone at https://example.org/x?a=1#frag, and https://example.net/@user.\n" * 20_000
    found = extract(text)
    assert (len(found.hashtags), len(found.mentions), len(found.links)) == (20_000, 20_000, 40_000)
    assert found.links[:2] == extract(text[:100]).links
