import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { readFileSync } from 'node:fs';
await tf.setBackend(process.argv[2] ?? 'wasm'); await tf.ready();
const load = f => readFileSync(f,'utf8').trim().split('\n').map(l=>l.split(',').map(Number));
const rows = load('data/optdigits/optdigits.tra'), te = load('data/optdigits/optdigits.tes');
const X = tf.tensor2d(rows.map(r=>r.slice(0,64).map(v=>v/16)));
const Y = tf.cast(tf.oneHot(tf.tensor1d(rows.map(r=>r[64]),'int32'),10),'float32');
const Xt = tf.tensor2d(te.map(r=>r.slice(0,64).map(v=>v/16)));
const model = tf.sequential({layers:[tf.layers.dense({inputShape:[64],units:64,activation:'relu'}),tf.layers.dense({units:10})]});
const opt = tf.train.adam(0.01);
const n = rows.length, bs=32;
const acc = () => { const pred = tf.argMax(model.predict(Xt),1).dataSync(); let c=0; te.forEach((r,i)=>{ if (r[64]===pred[i]) c++; }); return c/te.length; };
let t=Date.now();
for (let e=0;e<5;e++){
  for (let i=0;i<n;i+=bs){
    const xb = tf.slice(X,[i,0],[Math.min(bs,n-i),64]); const yb = tf.slice(Y,[i,0],[Math.min(bs,n-i),10]);
    const cost = opt.minimize(()=>tf.losses.softmaxCrossEntropy(yb, model.apply(xb)), true);
    cost.dispose(); xb.dispose(); yb.dispose();
  }
  console.log('epoch', e, acc());
}
console.log('5 epochs custom loop ms', Date.now()-t, tf.memory().numTensors);
