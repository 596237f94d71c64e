#!/usr/bin/env python3
"""Random bandwidth traces for the ABR simulator (format: ../shared/traces/README.md).

    python3 scripts/abr_traces.py OUT_DIR SEED

Writes 35 traces: jitter (0.25-3 s periods), periodic dips, staircases, ramps,
steady thin links, outages, log random walks and lossy steady links, RTT 20-100 ms.
crates/client/examples/random/ holds seeds 7 (d1_), 1234 (d2_), 99 (v1_) and
2026 (v2_), renamed with those prefixes so one directory can hold all four.
"""
import json, random, os, sys
out = sys.argv[1]; seed = int(sys.argv[2]); random.seed(seed)
os.makedirs(out, exist_ok=True)
def w(name, steps, rtt, loss=0.0):
    json.dump({"name": name, "description": name, "rtt_ms": rtt, "loss": loss, "steps": steps}, open(f"{out}/{name}.json", "w"))
rtts=[20,40,60,80,100]
for i in range(6):
    p=random.choice([250,500,1000,2000,3000]); lo=random.choice([50,70,90,120]); hi=random.choice([250,350,500,800])
    w(f"jit{i}", [[p, random.randint(lo,hi)] for _ in range(int(60000/p))], random.choice(rtts))
for i in range(6):
    H=random.choice([200,250,300,500,1000]); L=random.choice([30,60,90,110,130]); th=random.choice([3000,5000,8000,12000]); tl=random.choice([500,1000,1500,2000,3000])
    w(f"dip{i}", [[th,H],[tl,L]], random.choice(rtts))
for i in range(5):
    n=random.randint(3,7); w(f"stair{i}", [[random.choice([5000,10000,15000]), random.choice([70,90,110,140,180,230,300,450,700])] for _ in range(n)], random.choice(rtts))
for i in range(4):
    a=random.choice([60,80,100]); b=random.choice([300,400,600]); n=30; d=2000
    lv=[int(a+(b-a)*k/(n-1)) for k in range(n)]
    if i%2: lv=lv[::-1]
    w(f"ramp{i}", [[d,x] for x in lv], random.choice(rtts))
for i in range(3):
    w(f"steady{i}", [[60000, random.choice([100,130,170,210,260])]], random.choice(rtts))
for i in range(3):
    w(f"outage{i}", [[random.choice([8000,15000,20000]), random.choice([250,400,1000])],[random.choice([1000,2000,4000]),0]], random.choice(rtts))
for i in range(4):
    # log random walk
    x=random.choice([150,250,400]); st=[]
    for _ in range(120):
        x=max(40,min(1500,x*random.choice([0.8,0.9,1,1,1.1,1.25]))); st.append([500,int(x)])
    w(f"walk{i}", st, random.choice(rtts))
for i in range(4):
    base=random.choice([200,300,500]); w(f"loss{i}", [[60000, base]], random.choice(rtts), random.choice([0.01,0.02,0.05]))
