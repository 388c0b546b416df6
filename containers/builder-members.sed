# sed -f builder-members.sed Cargo.toml: the workspace cut down to the crates the binaries need
# (Containerfile builder stages). Handles one-line and multi-line member lists.
/^members *= *\[.*\]/c\members = ["proto", "policy", "agent", "shim"]
/^members *= *\[[^]]*$/,/\]/c\members = ["proto", "policy", "agent", "shim"]
/^default-members *= *\[.*\]/d
/^default-members *= *\[[^]]*$/,/\]/d
