"""The animation's frame image is described for readers who cannot see it."""

import numpy as np
import pytest

from pgcourse.plotting import cartpole_animation, with_alt_text


def test_the_frame_image_of_an_animation_gets_the_alt_text():
    html = cartpole_animation(np.zeros((10, 4)), every=5).to_jshtml()
    described = with_alt_text(html, 'A "balanced" pole')
    assert 'alt="A &quot;balanced&quot; pole" id="_anim_img' in described
    assert described.count("<img") == html.count("<img") == 1


def test_text_without_a_frame_image_is_refused():
    with pytest.raises(ValueError, match="to_jshtml"):
        with_alt_text("<p>no animation</p>", "alt")
