//! Packing the local repository. libgit2 writes every object loose — a file per blob, tree
//! and commit — and, unlike git, never packs: 20,000 DnsRecords left 8.7 GB of loose objects
//! for 33,777 commits, while the remote that received the same history held 139 MB packed.
//!
//! The writer thread calls [`maybe_pack`] between commits (it is the repository's only
//! writer, so nothing races it): every [`LOOSE_COMMITS_PER_PACK`] commits the loose objects
//! become one pack (deltas and zlib, like `git repack -d`) and their files go. The packs are
//! kept in a geometric progression, as `git repack --geometric=2` keeps them: each pack holds
//! at least twice the objects of all smaller packs together, and a pass rolls the smallest
//! packs that would break that into the new one ([`geometric_rollup`]). So there are at most
//! about log₂(objects) packs, and an object is rewritten O(log n) times over the repository's
//! life. (Consolidating *every* pack each few thousand commits, as before, rewrote the whole
//! history each time: O(n²) over a province's hundreds of thousands of commits.)
//!
//! Safe to kill at any line: libgit2's indexer writes a pack under a temporary name and
//! renames it with its index last, so a pack is either whole or ignored; loose files are
//! removed only after the pack holding them is in place, and packs only after the pack that
//! replaces them. What a kill leaves behind (loose objects already packed, an orphan
//! `.pack` without `.idx`, a temporary file) costs space, never an object, and
//! [`clear_leftovers`] removes the last two at the next start.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

/// Commits between incremental packs: each pack then holds ~1,000 commits' worth of
/// objects, so the loose set stays near 1,000 × (objects per commit) files.
pub const LOOSE_COMMITS_PER_PACK: u64 = 1000;

/// Each kept pack holds at least this many times the objects of all smaller packs together.
pub const GEOMETRIC_FACTOR: u64 = 2;

/// What one packing pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Objects written into the new pack.
    pub objects: usize,
    /// Loose object files removed.
    pub loose_removed: usize,
    /// Older packs removed (a consolidation).
    pub packs_removed: usize,
}

fn objects_dir(repo: &Repository) -> PathBuf {
    repo.path().join("objects")
}

/// Every loose object's id, from the file names under `objects/xx/`.
pub fn loose_objects(repo: &Repository) -> Vec<Oid> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(objects_dir(repo)) else {
        return out;
    };
    for dir in dirs.flatten() {
        let prefix = dir.file_name().to_string_lossy().into_owned();
        if prefix.len() != 2 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for f in files.flatten() {
            let rest = f.file_name().to_string_lossy().into_owned();
            if let Ok(oid) = Oid::from_str(&format!("{prefix}{rest}"))
                && rest.len() == 38
            {
                out.push(oid);
            }
        }
    }
    out
}

/// The pack files (`pack-*.pack` with their `.idx`) in the repository.
pub fn packs(repo: &Repository) -> Vec<PathBuf> {
    let dir = objects_dir(repo).join("pack");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack") && p.with_extension("idx").exists())
        .collect();
    out.sort();
    out
}

fn loose_path(repo: &Repository, oid: Oid) -> PathBuf {
    let hex = oid.to_string();
    objects_dir(repo).join(&hex[..2]).join(&hex[2..])
}

fn remove_pack(pack: &Path) {
    // the index first: without it the pack is ignored, whatever happens next
    for ext in ["idx", "rev", "pack"] {
        let _ = std::fs::remove_file(pack.with_extension(ext));
    }
}

/// Which packs a packing pass rewrites, together with the loose objects, into its new pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollup {
    /// None: the new pack holds the loose objects only.
    Nothing,
    /// These packs' objects (read from their indexes), then these packs go.
    Packs(Vec<PathBuf>),
    /// Everything reachable from the refs, then every other pack goes (`git repack -a -d`).
    Everything,
}

/// Packs the loose objects into one new pack and removes their files; with `consolidate`,
/// packs everything reachable from the refs (and whatever is loose) into one and removes
/// every other pack too. Open a new [`Repository`] afterwards: this handle may still list
/// the removed packs.
pub fn pack(repo: &Repository, consolidate: bool) -> Result<Packed, git2::Error> {
    let rollup = if consolidate {
        Rollup::Everything
    } else {
        Rollup::Nothing
    };
    pack_rolling(repo, &loose_objects(repo), rollup)
}

/// Packs `loose` and what `rollup` names into one new pack, then removes the loose files and
/// the rolled-up packs. Open a new [`Repository`] afterwards (see [`pack`]).
pub fn pack_rolling(
    repo: &Repository,
    loose: &[Oid],
    rollup: Rollup,
) -> Result<Packed, git2::Error> {
    let before = packs(repo);
    let nothing_to_do = match &rollup {
        Rollup::Nothing => loose.is_empty(),
        Rollup::Packs(p) => loose.is_empty() && p.len() <= 1,
        Rollup::Everything => loose.is_empty() && before.len() <= 1,
    };
    if nothing_to_do {
        return Ok(Packed::default());
    }
    let mut builder = repo.packbuilder()?;
    match &rollup {
        Rollup::Nothing => {}
        Rollup::Packs(rolled) => {
            for pack in rolled {
                let ids = pack_index_ids(&pack.with_extension("idx"))
                    .map_err(|e| git2::Error::from_str(&format!("{}: {e}", pack.display())))?;
                for oid in ids {
                    builder.insert_object(oid, None)?;
                }
            }
        }
        Rollup::Everything => {
            let mut walk = repo.revwalk()?;
            walk.push_glob("*")?;
            builder.insert_walk(&mut walk)?;
        }
    }
    // (inserting an object already added is a no-op)
    for oid in loose {
        builder.insert_object(*oid, None)?;
    }
    let objects = builder.object_count();
    let dir = objects_dir(repo).join("pack");
    std::fs::create_dir_all(&dir).map_err(|e| git2::Error::from_str(&e.to_string()))?;
    builder.write(&dir, 0o444)?;
    let written = builder
        .name()
        .map(|n| dir.join(format!("pack-{n}.pack")))
        .ok_or_else(|| git2::Error::from_str("the pack builder named no pack"))?;
    if !written.with_extension("idx").exists() {
        return Err(git2::Error::from_str("the new pack has no index"));
    }
    // Everything that was loose is in the new pack now, and so is everything the rolled-up
    // packs held (with `Everything`, all that is reachable: only garbage goes with the rest).
    let loose_removed = loose
        .iter()
        .filter(|oid| std::fs::remove_file(loose_path(repo, **oid)).is_ok())
        .count();
    let gone: Vec<&PathBuf> = match &rollup {
        Rollup::Nothing => vec![],
        Rollup::Packs(rolled) => rolled.iter().collect(),
        Rollup::Everything => before.iter().collect(),
    };
    let mut packs_removed = 0;
    for old in gone.into_iter().filter(|p| **p != written) {
        remove_pack(old);
        packs_removed += 1;
    }
    remove_empty_fanout_dirs(repo);
    Ok(Packed {
        objects,
        loose_removed,
        packs_removed,
    })
}

/// The object ids a pack index (version 2, what libgit2 and git write) lists.
pub fn pack_index_ids(idx: &Path) -> std::io::Result<Vec<Oid>> {
    let bytes = std::fs::read(idx)?;
    let count = pack_index_count(&bytes)?;
    let ids = bytes
        .get(IDX_HEADER..IDX_HEADER + count * 20)
        .ok_or_else(|| bad_index("shorter than its object count"))?;
    ids.chunks_exact(20)
        .map(|id| Oid::from_bytes(id).map_err(|e| bad_index(e.message())))
        .collect()
}

/// Magic, version and the 256-entry fan-out table of a version 2 pack index.
const IDX_HEADER: usize = 8 + 256 * 4;

fn bad_index(why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("not a version 2 pack index: {why}"),
    )
}

/// How many objects a version 2 pack index lists: the fan-out table's last entry.
fn pack_index_count(bytes: &[u8]) -> std::io::Result<usize> {
    if bytes.get(..8) != Some(&[0xff, b't', b'O', b'c', 0, 0, 0, 2][..]) {
        return Err(bad_index("bad magic or version"));
    }
    let last = bytes
        .get(IDX_HEADER - 4..IDX_HEADER)
        .ok_or_else(|| bad_index("no fan-out table"))?;
    Ok(u32::from_be_bytes([last[0], last[1], last[2], last[3]]) as usize)
}

/// Each pack with its object count, smallest first. A pack whose index cannot be read counts
/// as empty (it is rolled up, and its index read again, at the next pass — which then fails
/// loudly rather than dropping it).
pub fn pack_sizes(repo: &Repository) -> Vec<(PathBuf, u64)> {
    let mut out: Vec<(PathBuf, u64)> = packs(repo)
        .into_iter()
        .map(|p| {
            let count = std::fs::read(p.with_extension("idx"))
                .ok()
                .and_then(|b| pack_index_count(&b).ok())
                .unwrap_or(0);
            (p, count as u64)
        })
        .collect();
    out.sort_by_key(|(p, n)| (*n, p.clone()));
    out
}

/// How many of the smallest packs (`sizes` ascending, in objects) to roll into a new pack of
/// `loose` objects so that every pack kept is at least [`GEOMETRIC_FACTOR`] times all smaller
/// packs together, the new one included: one more than the largest pack that is not.
/// (Rolling up to that pack is enough: every larger pack already outweighs all below it.)
pub fn geometric_rollup(sizes: &[u64], loose: u64) -> usize {
    let mut below = loose;
    let mut rollup = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if size < GEOMETRIC_FACTOR.saturating_mul(below) {
            rollup = i + 1;
        }
        below = below.saturating_add(size);
    }
    rollup
}

fn remove_empty_fanout_dirs(repo: &Repository) {
    let Ok(dirs) = std::fs::read_dir(objects_dir(repo)) else {
        return;
    };
    for dir in dirs.flatten() {
        let name = dir.file_name();
        if name.len() == 2 {
            // fails, harmlessly, unless empty
            let _ = std::fs::remove_dir(dir.path());
        }
    }
}

/// Removes what a kill during [`pack`] can leave: a `.pack` without its `.idx` (libgit2
/// ignores it) and the indexer's temporary files. Called at start, before any writing.
pub fn clear_leftovers(path: &Path) {
    let dir = path.join("objects").join("pack");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let orphan =
            p.extension().is_some_and(|x| x == "pack") && !p.with_extension("idx").exists();
        let temporary = !name.starts_with("pack-");
        if orphan || temporary {
            tracing::warn!(file = %p.display(), "removing a pack left half-written by a kill");
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Packs when due: after [`LOOSE_COMMITS_PER_PACK`] commits since the last pack (counted by
/// the caller), rolling up the packs [`geometric_rollup`] names. `None` when nothing was due.
pub fn maybe_pack(repo: &Repository, commits_since: u64) -> Result<Option<Packed>, git2::Error> {
    if commits_since < LOOSE_COMMITS_PER_PACK {
        return Ok(None);
    }
    let loose = loose_objects(repo);
    let sizes = pack_sizes(repo);
    let counts: Vec<u64> = sizes.iter().map(|(_, n)| *n).collect();
    let rolled = geometric_rollup(&counts, loose.len() as u64);
    let rollup = Rollup::Packs(sizes.into_iter().take(rolled).map(|(p, _)| p).collect());
    pack_rolling(repo, &loose, rollup).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit_files(repo: &Repository, n: usize) -> Oid {
        let mut parent: Option<Oid> = repo.refname_to_id("refs/heads/main").ok();
        let who = git2::Signature::now("t", "t@example.org").unwrap();
        for i in 0..n {
            let base = match parent {
                Some(p) => repo.find_commit(p).unwrap().tree().unwrap(),
                None => repo
                    .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
                    .unwrap(),
            };
            let blob = repo.blob(format!("object {i}\n").as_bytes()).unwrap();
            let mut update = git2::build::TreeUpdateBuilder::new();
            update.upsert(
                format!("d/{:02x}/o{i}.yaml", i % 7),
                blob,
                git2::FileMode::Blob,
            );
            let tree = repo
                .find_tree(update.create_updated(repo, &base).unwrap())
                .unwrap();
            let parents: Vec<git2::Commit> = parent
                .map(|p| repo.find_commit(p).unwrap())
                .into_iter()
                .collect();
            let refs: Vec<&git2::Commit> = parents.iter().collect();
            let id = repo
                .commit(
                    Some("refs/heads/main"),
                    &who,
                    &who,
                    &format!("c{i}"),
                    &tree,
                    &refs,
                )
                .unwrap();
            parent = Some(id);
        }
        parent.unwrap()
    }

    fn every_document(path: &Path) -> Vec<String> {
        // a fresh handle, as the writer opens after packing
        let repo = Repository::open_bare(path).unwrap();
        let mut walk = repo.revwalk().unwrap();
        walk.push_glob("*").unwrap();
        let mut out = Vec::new();
        for id in walk {
            let commit = repo.find_commit(id.unwrap()).unwrap();
            commit
                .tree()
                .unwrap()
                .walk(git2::TreeWalkMode::PreOrder, |dir, e| {
                    if let Ok(b) = e.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                        out.push(format!(
                            "{dir}{}={}",
                            e.name().unwrap(),
                            String::from_utf8_lossy(b.content())
                        ));
                    }
                    git2::TreeWalkResult::Ok
                })
                .unwrap();
        }
        out.sort();
        out
    }

    /// A fresh scratch directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kavling-pack-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn packing_keeps_every_object_and_leaves_nothing_loose() {
        let dir = scratch("keeps");
        let repo = Repository::init_bare(dir.as_path()).unwrap();
        commit_files(&repo, 40);
        let before = every_document(dir.as_path());
        assert!(
            loose_objects(&repo).len() >= 40 * 3,
            "every commit wrote loose objects"
        );

        let first = pack(&repo, false).unwrap();
        assert_eq!(first.loose_removed, first.objects);
        assert!(loose_objects(&repo).is_empty());
        assert_eq!(packs(&repo).len(), 1);
        assert_eq!(every_document(dir.as_path()), before);

        // more commits on top of the pack, a second pack, then one consolidated pack
        let repo = Repository::open_bare(dir.as_path()).unwrap();
        commit_files(&repo, 10);
        let before = every_document(dir.as_path());
        pack(&repo, false).unwrap();
        assert_eq!(packs(&repo).len(), 2);
        let repo = Repository::open_bare(dir.as_path()).unwrap();
        let merged = pack(&repo, true).unwrap();
        assert_eq!(merged.packs_removed, 2);
        assert_eq!(packs(&repo).len(), 1);
        assert_eq!(every_document(dir.as_path()), before);
    }

    #[test]
    fn a_pack_without_its_index_is_cleared_at_start() {
        let dir = scratch("cleared");
        let repo = Repository::init_bare(dir.as_path()).unwrap();
        commit_files(&repo, 5);
        pack(&repo, false).unwrap();
        let whole = packs(&repo).remove(0);
        // a kill between the pack's rename and its index's
        let half = whole.with_file_name("pack-0000000000000000000000000000000000000000.pack");
        std::fs::copy(&whole, &half).unwrap();
        std::fs::write(whole.with_file_name("pack_git2_tmp"), b"partial").unwrap();
        clear_leftovers(dir.as_path());
        assert!(!half.exists());
        assert!(!whole.with_file_name("pack_git2_tmp").exists());
        assert!(whole.exists() && whole.with_extension("idx").exists());
    }

    #[test]
    fn packing_is_due_only_after_enough_commits() {
        let dir = scratch("due");
        let repo = Repository::init_bare(dir.as_path()).unwrap();
        commit_files(&repo, 3);
        assert_eq!(maybe_pack(&repo, LOOSE_COMMITS_PER_PACK - 1).unwrap(), None);
        assert!(maybe_pack(&repo, LOOSE_COMMITS_PER_PACK).unwrap().is_some());
        assert!(loose_objects(&repo).is_empty());
    }

    #[test]
    fn geometric_rollup_keeps_a_progression() {
        // nothing to roll: each pack outweighs everything smaller, the new one included
        assert_eq!(geometric_rollup(&[10, 40, 200], 5), 0);
        // the smallest pack is not twice the new one: it goes in
        assert_eq!(geometric_rollup(&[10, 40, 200], 6), 1);
        // a pack in the middle breaks the progression: it and everything below it
        assert_eq!(geometric_rollup(&[10, 20, 200], 1), 2);
        assert_eq!(geometric_rollup(&[], 7), 0);
    }

    /// Packing every 1,000 commits' worth of objects for a long time: the number of packs
    /// stays logarithmic and each object is rewritten only a logarithmic number of times —
    /// against the old rule (everything after 8 packs), which rewrote the history each time.
    #[test]
    fn geometric_packing_rewrites_each_object_a_logarithmic_number_of_times() {
        let per_pass = 5_000u64;
        let passes = 2_000u64;
        let mut sizes: Vec<u64> = vec![];
        let mut written = 0u64;
        for _ in 0..passes {
            let rolled = geometric_rollup(&sizes, per_pass);
            let new: u64 = per_pass + sizes.drain(..rolled).sum::<u64>();
            written += new;
            sizes.push(new);
            sizes.sort();
            // the invariant: every pack at least twice all smaller ones together
            let mut below = 0;
            for &s in &sizes {
                assert!(s >= GEOMETRIC_FACTOR * below, "{sizes:?}");
                below += s;
            }
        }
        let total = per_pass * passes;
        let log2 = (passes as f64).log2();
        assert!((sizes.len() as f64) <= log2 + 1.0, "{} packs", sizes.len());
        let rewrites = written as f64 / total as f64;
        assert!(
            rewrites <= log2 + 1.0,
            "each object written {rewrites:.1} times"
        );
        // the old rule for comparison: all into one every 8 passes
        let old: u64 = (1..=passes)
            .filter(|k| k % 8 == 0)
            .map(|k| k * per_pass)
            .sum();
        assert!(old as f64 / total as f64 > 100.0);
    }

    #[test]
    fn rolling_up_the_small_packs_keeps_every_object() {
        let dir = scratch("rolling");
        let mut since = 0;
        for round in 0..6 {
            let repo = Repository::open_bare(dir.as_path())
                .or_else(|_| Repository::init_bare(dir.as_path()))
                .unwrap();
            commit_files(&repo, 10 + round);
            since += LOOSE_COMMITS_PER_PACK;
            let before = every_document(dir.as_path());
            let done = maybe_pack(&repo, since).unwrap().expect("due");
            since = 0;
            assert!(loose_objects(&repo).is_empty());
            assert_eq!(every_document(dir.as_path()), before, "round {round}");
            let repo = Repository::open_bare(dir.as_path()).unwrap();
            let sizes: Vec<u64> = pack_sizes(&repo).into_iter().map(|(_, n)| n).collect();
            let listed: u64 = sizes.iter().sum();
            assert!(done.objects > 0);
            let mut below = 0;
            for &s in &sizes {
                assert!(s >= GEOMETRIC_FACTOR * below, "round {round}: {sizes:?}");
                below += s;
            }
            // the packs' indexes list each object once: nothing duplicated across packs
            let mut ids: Vec<Oid> = packs(&repo)
                .iter()
                .flat_map(|p| pack_index_ids(&p.with_extension("idx")).unwrap())
                .collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len() as u64, listed, "round {round}");
        }
    }
}
