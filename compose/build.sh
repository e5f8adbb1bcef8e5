#!/usr/bin/env bash
# Build the emulator image offline: wheels of the project and its dependencies on the host
# (pip wheel, needs the package index or a pip cache), then `docker build --network none`.
#
#   BASE_IMAGE=$(compose/base-image.sh) compose/build.sh     # prints the image tag
#
# The image is tagged scaleunit:<hash of its inputs> and scaleunit:local (what the compose file
# runs); when the hash's image exists it is not built again.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${BASE_IMAGE:?set BASE_IMAGE (compose/base-image.sh prints one)}
PYTHON=${PYTHON:-python3}
digest=$( {
    echo "$BASE_IMAGE"
    # not README.md: only the wheel's description comes from it
    find pyproject.toml compose/Dockerfile compose/rack-entrypoint.sh \
        emulator nodes bmc switches -type f ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-12)
TAG=${SCALEUNIT_IMAGE_TAG:-scaleunit:$digest}

if ! docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "building $TAG from $BASE_IMAGE" >&2
    rm -f compose/wheels/*.whl
    "$PYTHON" -m pip wheel -q --disable-pip-version-check . -w compose/wheels >&2
    docker build --network none -q -f compose/Dockerfile --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        -t "$TAG" . >&2
fi
docker tag "$TAG" scaleunit:local
echo "$TAG"
