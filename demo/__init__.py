"""`make demo`: the whole pipeline on bundled clips, served by the test site (see demo.run)."""
