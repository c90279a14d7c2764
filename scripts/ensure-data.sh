#!/usr/bin/env bash
# Make sure Fashion-MNIST is on this machine: Debian's dataset-fashion-mnist package, installed with
# apt-get when we are root, or a clear message saying what to do when we are not.
set -euo pipefail

debian_dir=/usr/share/datasets/fashion-mnist
have_files() {
    local dir=$1
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [[ -e "$dir/$f" || -e "$dir/$f.gz" || -e "$dir/fashion-mnist/$f" || -e "$dir/fashion-mnist/$f.gz" ]] || return 1
    done
}

for dir in "${ZOO_DATA_DIR:-}" "${ZOO_ARTIFACTS:-artifacts}/data" "$debian_dir"; do
    if [[ -n "$dir" ]] && have_files "$dir"; then
        exit 0
    fi
done

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "Fashion-MNIST is missing: installing Debian's dataset-fashion-mnist"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
    have_files "$debian_dir" && exit 0
fi

cat >&2 <<MSG
Fashion-MNIST is missing. Install it with one of:
  sudo apt-get install -y dataset-fashion-mnist        (Debian/Ubuntu; files in $debian_dir)
  .venv/bin/zoo data fetch fashion-mnist               (downloads the official files)
  export ZOO_DATA_DIR=/folder/with/the/four/idx/files
MSG
exit 1
