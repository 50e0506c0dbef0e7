import Torch
print("benchmarks: none yet")
