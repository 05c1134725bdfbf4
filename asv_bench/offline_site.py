"""Make an offline copy of the published asv site.

asv's index.html loads jQuery, flot, Bootstrap and a few plugins from CDNs,
which a machine without internet access cannot reach (the page then shows
asv's "failed to load" error).  This copies html/ to OUT/ and points each of
those scripts at the copy Debian packages (libjs-jquery, libjs-jquery-flot,
libjs-jquery-stupidtable, node-blueimp-md5, libjs-bootstrap), without the
integrity hashes of the CDN files.  flot's orderBars plugin, used only to
order bar charts, has no Debian package and is left out.

Usage: python offline_site.py HTML_DIR OUT_DIR
"""
import pathlib
import re
import shutil
import sys

DEBIAN = {
    "jquery-3.3.1.min.js": "/usr/share/javascript/jquery/jquery.min.js",
    "jquery.flot.min.js": "/usr/share/javascript/jquery-flot/jquery.flot.min.js",
    "jquery.flot.time.min.js": "/usr/share/javascript/jquery-flot/jquery.flot.time.min.js",
    "jquery.flot.selection.min.js":
        "/usr/share/javascript/jquery-flot/jquery.flot.selection.min.js",
    "jquery.flot.categories.min.js":
        "/usr/share/javascript/jquery-flot/jquery.flot.categories.min.js",
    "stupidtable.min.js": "/usr/share/javascript/jquery-stupidtable/stupidtable.min.js",
    "md5.min.js": "/usr/share/javascript/blueimp-md5/md5.min.js",
    "bootstrap.min.js": "/usr/share/javascript/bootstrap/js/bootstrap.min.js",
    "bootstrap.min.css": "/usr/share/javascript/bootstrap/css/bootstrap.min.css",
}


def localise(tag):
    """The tag with a local file instead of the CDN URL, or '' to drop it."""
    url = re.search(r'(?:src|href)="(https://[^"]+)"', tag).group(1)
    name = url.rsplit("/", 1)[1]
    if name not in DEBIAN:
        return ""
    tag = re.sub(r'\s(integrity|crossorigin|referrerpolicy)="[^"]*"', "", tag)
    return tag.replace(url, "offline/" + name)


def main(html, out):
    html, out = pathlib.Path(html), pathlib.Path(out)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(html, out)
    (out / "offline").mkdir()
    for name, path in DEBIAN.items():
        shutil.copy(path, out / "offline" / name)
    index = out / "index.html"
    text = re.sub(r'<(script|link)[^>]*(?:src|href)="https://[^"]+"[^>]*>(?:</script>)?',
                  lambda m: localise(m.group(0)), index.read_text())
    index.write_text(text)


if __name__ == "__main__":
    main(*sys.argv[1:3])
