import Foundation
import Torch

extension Trainer {
    /// Before the first step of a data-parallel run: the batch must split evenly, and every rank starts
    /// from rank 0's weights.
    func startDataParallel() throws {
        guard let dataParallel else { return }
        guard train.batchSize % dataParallel.worldSize == 0 else {
            throw ConfigError("train.batch_size: \(train.batchSize) does not split evenly over \(dataParallel.worldSize) ranks; "
                + "it is the global batch, and each rank trains on batch_size / world_size trials")
        }
        // the ranks load the data and build the model at their own pace
        try dataParallel.barrier("every rank ready to train", long: true)
        try dataParallel.broadcastParameters(optimizer.parameters)
    }

    /// `shouldStop` on any rank stops every rank after the same step (Ctrl-C reaches them at different times).
    func stopRequested() throws -> Bool {
        guard let dataParallel else { return shouldStop() }
        return try dataParallel.average(shouldStop() ? 1 : 0) > 0
    }
}
