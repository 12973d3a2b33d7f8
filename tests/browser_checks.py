"""Checks run inside chromium, shared by the browser tests."""

CUT_TEXT = """els => els.filter(e => {
    const box = e.getBoundingClientRect(), style = getComputedStyle(e);
    if (!e.textContent.trim() || style.display === "none" || box.width === 0) return false;
    let left = Infinity, right = -Infinity;
    const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.textContent.trim()) continue;
        const text = document.createRange();
        text.selectNodeContents(node);
        const r = text.getBoundingClientRect();
        left = Math.min(left, r.left);
        right = Math.max(right, r.right);
    }
    const room = box.width - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return right - left > room + 0.25;
}).map(e => e.textContent)"""
"""For ``Locator.evaluate_all``: the texts laid out wider than their box, i.e. shown cut ("σ m…").
``scrollWidth`` is rounded to whole pixels and misses a text a fraction of a pixel too wide."""
