//! Packing the local repository. libgit2 writes every object loose — a file per blob, tree
//! and commit — and, unlike git, never packs: 20,000 DnsRecords left 8.7 GB of loose objects
//! for 33,777 commits, while the remote that received the same history held 139 MB packed.
//!
//! The writer thread calls [`maybe_pack`] between commits (it is the repository's only
//! writer, so nothing races it). Every [`LOOSE_COMMITS_PER_PACK`] commits the history since
//! the newest pack becomes a pack, and the packs are kept in a **geometric progression**
//! (as `git repack --geometric=2`): oldest first, each pack holds at least twice the objects
//! of all newer ones together. A new pack that breaks the progression rolls up the newer
//! packs it outgrew. So an object is rewritten O(log n) times in its life and a repository
//! of n commits has O(log n) packs — packing everything into one every few packs (the rule
//! before) rewrote the whole history each time: O(n²) over a province-sized fill.
//!
//! Packs cover ranges of history, not sets of ids: each is written from a revwalk of every
//! ref with the tip of the newest pack it keeps hidden, so the pack builder sees the objects
//! with their paths and finds deltas between versions of the same document (fed bare ids it
//! finds few: that measured 3× larger). The tip each pack was cut at is kept in
//! [`STATE_FILE`]; a pack the file does not name (written by an older writer, fetched when
//! adopting the remote, or left by a kill before the file was updated) makes the next pass
//! pack everything into one, after which the file names every pack again.
//!
//! Safe to kill at any line: libgit2's indexer writes a pack under a temporary name and
//! renames it with its index last, so a pack is either whole or ignored; the state file is
//! replaced by rename; loose files are removed only after the pack holding them is in place,
//! and packs only after the pack that replaces them. What a kill leaves behind (loose objects
//! already packed, an orphan `.pack` without `.idx`, a temporary file, a pack the state file
//! does not name) costs space or one full pass, never an object, and [`clear_leftovers`]
//! removes the orphans at the next start.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

/// Commits between packs: each new pack holds ~1,000 commits' worth of objects, so the loose
/// set stays near 1,000 × (objects per commit) files.
pub const LOOSE_COMMITS_PER_PACK: u64 = 1000;

/// The file (in the repository's directory) naming each pack with the commit it was cut at
/// and its object count, oldest first: `pack-<hash> <tip> <objects>` per line.
pub const STATE_FILE: &str = "kavling-packs";

/// The factor between neighbouring packs: a pack is kept while it holds at least this many
/// times the objects of everything newer.
const GROWTH: usize = 2;

/// What one packing pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Objects written into the new pack.
    pub objects: usize,
    /// Loose object files removed.
    pub loose_removed: usize,
    /// Older packs removed (rolled up into the new one).
    pub packs_removed: usize,
    /// Every pack was rewritten into one (a pack the state file did not name, or asked for).
    pub full: bool,
}

/// A pack the state file names: the commit it was cut at and how many objects it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPack {
    /// `pack-<hash>`, the file stem.
    pub name: String,
    pub tip: Oid,
    pub objects: usize,
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

fn io_error(e: std::io::Error) -> git2::Error {
    git2::Error::from_str(&e.to_string())
}

/// The packs the state file names, oldest first (none without the file).
pub fn known_packs(repo: &Repository) -> Vec<KnownPack> {
    let Ok(text) = std::fs::read_to_string(repo.path().join(STATE_FILE)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut field = line.split_whitespace();
            Some(KnownPack {
                name: field.next()?.to_string(),
                tip: Oid::from_str(field.next()?).ok()?,
                objects: field.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Replaces the state file whole (written aside, then renamed over it).
fn write_known(repo: &Repository, packs: &[KnownPack]) -> Result<(), git2::Error> {
    let path = repo.path().join(STATE_FILE);
    let aside = repo.path().join(format!("{STATE_FILE}.new"));
    let text: String = packs
        .iter()
        .map(|p| format!("{} {} {}\n", p.name, p.tip, p.objects))
        .collect();
    std::fs::write(&aside, text)
        .and_then(|()| std::fs::rename(&aside, &path))
        .map_err(io_error)
}

fn stem(pack: &Path) -> String {
    pack.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// How many of the known packs (their object counts, oldest first) a new pack of `fresh`
/// objects leaves in place: the newest are rolled up while the next older one holds fewer
/// than [`GROWTH`] times what is being rolled up, so the kept ones stay a geometric
/// progression.
pub fn packs_kept(known: &[usize], fresh: usize) -> usize {
    let mut rolled = fresh;
    let mut kept = known.len();
    while kept > 0 && known[kept - 1] < GROWTH * rolled {
        rolled += known[kept - 1];
        kept -= 1;
    }
    kept
}

/// Writes the history since the tip of the `keep`-th oldest known pack (and whatever is
/// loose) into one new pack, then removes the loose files and the newer packs it replaces.
/// `keep` 0, or any pack on disk the state file does not name, packs everything into one.
/// Open a new [`Repository`] afterwards: this handle may still list the removed packs.
pub fn pack_since(repo: &Repository, keep: usize) -> Result<Packed, git2::Error> {
    pack_choosing(repo, |_, _| keep)
}

/// [`pack_since`] with `keep` chosen from the known packs and the number of loose objects,
/// so the pass reads the state file and scans the loose objects once.
fn pack_choosing(
    repo: &Repository,
    choose_keep: impl FnOnce(&[KnownPack], usize) -> usize,
) -> Result<Packed, git2::Error> {
    let loose = loose_objects(repo);
    let on_disk = packs(repo);
    let mut known = known_packs(repo);
    let keep = choose_keep(&known, loose.len());
    let full = keep == 0
        || on_disk
            .iter()
            .any(|p| !known.iter().any(|k| k.name == stem(p)));
    let keep = if full { 0 } else { keep.min(known.len()) };
    if loose.is_empty() && !full && keep == known.len() {
        return Ok(Packed::default());
    }
    let Some(tip) = repo.refname_to_id(crate::repo::BRANCH).ok() else {
        return Ok(Packed::default()); // nothing committed yet
    };
    let mut builder = repo.packbuilder()?;
    // the delta search on every core: a pass rewrites thousands of objects, and the commits
    // it holds up wait for it
    builder.set_threads(0);
    let mut walk = repo.revwalk()?;
    // every ref: commits kept aside when the remote's history was adopted stay packed too
    walk.push_glob("*")?;
    if let Some(boundary) = keep.checked_sub(1).map(|i| known[i].tip)
        && walk.hide(boundary).is_err()
    {
        // the commit that pack was cut at is gone (history replaced): start over whole
        return pack_since(repo, 0);
    }
    builder.insert_walk(&mut walk)?;
    // what no ref reaches (a commit a kill left unreferenced) goes in too, so every loose
    // file can go (inserting an object the walk already added is a no-op)
    for oid in &loose {
        builder.insert_object(*oid, None)?;
    }
    let objects = builder.object_count();
    let dir = objects_dir(repo).join("pack");
    std::fs::create_dir_all(&dir).map_err(io_error)?;
    builder.write(&dir, 0o444)?;
    let name = builder
        .name()
        .map(|n| format!("pack-{n}"))
        .ok_or_else(|| git2::Error::from_str("the pack builder named no pack"))?;
    let written = dir.join(format!("{name}.pack"));
    if !written.with_extension("idx").exists() {
        return Err(git2::Error::from_str("the new pack has no index"));
    }
    let replaced: Vec<KnownPack> = known.split_off(keep);
    known.retain(|k| k.name != name);
    known.push(KnownPack { name, tip, objects });
    write_known(repo, &known)?;
    // Everything loose is in the new pack now, and everything the replaced packs held that a
    // ref reaches is in it or in a kept pack: only garbage is lost with them.
    let loose_removed = loose
        .iter()
        .filter(|oid| std::fs::remove_file(loose_path(repo, **oid)).is_ok())
        .count();
    let mut packs_removed = 0;
    for old in on_disk.iter().filter(|p| **p != written) {
        let old_name = stem(old);
        if full || replaced.iter().any(|r| r.name == old_name) {
            remove_pack(old);
            packs_removed += 1;
        }
    }
    remove_empty_fanout_dirs(repo);
    Ok(Packed {
        objects,
        loose_removed,
        packs_removed,
        full: full && !on_disk.is_empty(),
    })
}

/// Packs everything reachable (and whatever is loose) into one pack.
pub fn pack_all(repo: &Repository) -> Result<Packed, git2::Error> {
    pack_since(repo, 0)
}

/// Packs when due: after [`LOOSE_COMMITS_PER_PACK`] commits since the last pack (counted by
/// the caller), rolling up the newer packs the new one outgrows. `None` when nothing was due.
pub fn maybe_pack(repo: &Repository, commits_since: u64) -> Result<Option<Packed>, git2::Error> {
    if commits_since < LOOSE_COMMITS_PER_PACK {
        return Ok(None);
    }
    roll_up(repo).map(Some)
}

/// Packs the history since the newest pack, rolling up the newer packs the new one outgrows
/// (see [`packs_kept`]).
pub fn roll_up(repo: &Repository) -> Result<Packed, git2::Error> {
    pack_choosing(repo, |known, loose| {
        let sizes: Vec<usize> = known.iter().map(|k| k.objects).collect();
        packs_kept(&sizes, loose)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn commit_files(repo: &Repository, n: usize) -> Oid {
        let mut parent: Option<Oid> = repo.refname_to_id("refs/heads/main").ok();
        let who = git2::Signature::now("t", "t@example.org").unwrap();
        // unique across calls (and tests): every commit adds a new document
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..n {
            let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

        let first = roll_up(&repo).unwrap();
        assert_eq!(first.loose_removed, first.objects);
        assert!(loose_objects(&repo).is_empty());
        assert_eq!(packs(&repo).len(), 1);
        assert_eq!(every_document(dir.as_path()), before);

        // more commits on top of the pack: a second pack holding only what is new
        let repo = Repository::open_bare(dir.as_path()).unwrap();
        commit_files(&repo, 5);
        let before = every_document(dir.as_path());
        let second = pack_since(&repo, 1).unwrap();
        assert_eq!(packs(&repo).len(), 2);
        assert!(
            second.objects <= 5 * 5,
            "the second pack holds the 5 new commits' objects, not the history: {second:?}"
        );
        assert_eq!(every_document(dir.as_path()), before);
        let known = known_packs(&repo);
        assert_eq!(known.len(), 2);
        assert_eq!(
            known[1].tip,
            repo.refname_to_id(crate::repo::BRANCH).unwrap()
        );

        // everything into one
        let repo = Repository::open_bare(dir.as_path()).unwrap();
        let merged = pack_all(&repo).unwrap();
        assert_eq!(merged.packs_removed, 2);
        assert!(merged.full);
        assert_eq!(packs(&repo).len(), 1);
        assert_eq!(known_packs(&repo).len(), 1);
        assert_eq!(every_document(dir.as_path()), before);
    }

    #[test]
    fn packs_stay_a_geometric_progression() {
        assert_eq!(packs_kept(&[], 10), 0);
        assert_eq!(packs_kept(&[100], 10), 1);
        assert_eq!(packs_kept(&[10], 10), 0, "equal sizes roll up");
        // 10 rolls up 10 (20), which 40 still outgrows twice over
        assert_eq!(packs_kept(&[100, 40, 10], 10), 2);
        assert_eq!(packs_kept(&[100, 20, 10], 10), 1);
        assert_eq!(packs_kept(&[70, 20, 10], 10), 0);
    }

    /// Many passes as the writer makes them: the packs stay few (logarithmic), the state file
    /// names exactly the packs on disk, and no document is lost.
    #[test]
    fn rolling_up_keeps_few_packs_and_every_document() {
        let dir = scratch("rolling");
        let mut repo = Repository::init_bare(dir.as_path()).unwrap();
        let mut most = 0;
        for _ in 0..24 {
            commit_files(&repo, 3);
            roll_up(&repo).unwrap();
            repo = Repository::open_bare(dir.as_path()).unwrap();
            let on_disk: Vec<String> = packs(&repo).iter().map(|p| stem(p)).collect();
            let mut named: Vec<String> = known_packs(&repo).into_iter().map(|k| k.name).collect();
            named.sort();
            assert_eq!(named, on_disk, "the state file names every pack");
            assert!(loose_objects(&repo).is_empty());
            let sizes: Vec<usize> = known_packs(&repo).iter().map(|k| k.objects).collect();
            for w in sizes.windows(2) {
                assert!(w[0] >= w[1], "oldest biggest: {sizes:?}");
            }
            most = most.max(sizes.len());
        }
        assert!(most <= 6, "24 passes kept at most {most} packs");
        let all = every_document(dir.as_path());
        assert_eq!(
            all.len(),
            (1..=72).sum::<usize>(),
            "every version of every document"
        );
    }

    #[test]
    fn a_pack_the_state_file_does_not_name_makes_the_next_pass_whole() {
        let dir = scratch("unnamed");
        let repo = Repository::init_bare(dir.as_path()).unwrap();
        commit_files(&repo, 6);
        roll_up(&repo).unwrap();
        // an older writer's pack, or a kill before the file was replaced
        std::fs::remove_file(dir.join(STATE_FILE)).unwrap();
        let repo = Repository::open_bare(dir.as_path()).unwrap();
        commit_files(&repo, 2);
        let before = every_document(dir.as_path());
        let pass = pack_since(&repo, 1).unwrap();
        assert!(pass.full && pass.packs_removed == 1, "{pass:?}");
        assert_eq!(packs(&repo).len(), 1);
        assert_eq!(known_packs(&repo).len(), 1);
        assert_eq!(every_document(dir.as_path()), before);
    }

    #[test]
    fn a_pack_without_its_index_is_cleared_at_start() {
        let dir = scratch("cleared");
        let repo = Repository::init_bare(dir.as_path()).unwrap();
        commit_files(&repo, 5);
        roll_up(&repo).unwrap();
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
}
