pragma circom 2.0.0;

// Membership with nullifier, after Semaphore (https://docs.semaphore.pse.dev/): the prover knows the secret behind
// an identity commitment that is a leaf of a Merkle tree with the public root, and outputs a nullifier that is the
// same every time for one identity and one scope, and unlinkable across scopes.

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/mux1.circom";


// Recomputes a binary Merkle root from a leaf and its path; pathIndices[i] = 1 when the node at level i is a right child.
template MerkleRoot(depth) {
    signal input leaf;
    signal input pathElements[depth];
    signal input pathIndices[depth];
    signal output root;

    component left[depth];
    component right[depth];
    component hashes[depth];
    signal nodes[depth + 1];
    nodes[0] <== leaf;

    for (var i = 0; i < depth; i++) {
        // Without this a non-bit index would blend the two children and prove a leaf that is not in the tree.
        pathIndices[i] * (1 - pathIndices[i]) === 0;

        left[i] = Mux1();
        left[i].c[0] <== nodes[i];
        left[i].c[1] <== pathElements[i];
        left[i].s <== pathIndices[i];

        right[i] = Mux1();
        right[i].c[0] <== pathElements[i];
        right[i].c[1] <== nodes[i];
        right[i].s <== pathIndices[i];

        hashes[i] = Poseidon(2);
        hashes[i].inputs[0] <== left[i].out;
        hashes[i].inputs[1] <== right[i].out;
        nodes[i + 1] <== hashes[i].out;
    }
    root <== nodes[depth];
}

template Membership(depth) {
    signal input secret;
    signal input pathElements[depth];
    signal input pathIndices[depth];
    signal input root;
    signal input scope;
    signal input signalHash;
    signal output nullifier;

    // One secret, not Semaphore V3's (nullifier, trapdoor) pair: the commitment hashes one input (t = 2) and the
    // nullifier two (t = 3), so the two use different Poseidon constants and a nullifier never equals a commitment.
    component commitment = Poseidon(1);
    commitment.inputs[0] <== secret;

    component tree = MerkleRoot(depth);
    tree.leaf <== commitment.out;
    for (var i = 0; i < depth; i++) {
        tree.pathElements[i] <== pathElements[i];
        tree.pathIndices[i] <== pathIndices[i];
    }
    root === tree.root;

    component hash = Poseidon(2);
    hash.inputs[0] <== secret;
    hash.inputs[1] <== scope;
    nullifier <== hash.out;

    // A public input that no constraint touches could be changed after proving (Groth16 malleability); squaring the
    // signal binds it to the proof, as Semaphore does.
    signal signalSquare;
    signalSquare <== signalHash * signalHash;
}

component main { public [root, scope, signalHash] } = Membership(20);
