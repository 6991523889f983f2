"""``warp`` backend placeholder; replaced by the MuJoCo Warp implementation."""
