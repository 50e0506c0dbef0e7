import ArgumentParser
import Foundation
import Torch

@main
struct VoxelFormerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voxelformer",
        abstract: "Multi-subject visual decoding from fMRI: train, evaluate and run VoxelFormer.",
        version: VoxelFormerVersion.string,
        subcommands: [Demo.self, Train.self, Evaluate.self, Baseline.self, Embed.self, Retrieve.self, Synth.self, DataCommand.self,
                      CLIPTargetsCommand.self, BrainXCommand.self, EncodingCommand.self,
                      Info.self, DistributedSelfTest.self]
    )

    /// Runs the chosen command inside a libtorch error scope: a libtorch failure anywhere in it is a thrown
    /// error (printed with the command's name, exit status 1), never a trap.
    static func main() {
        do {
            var command = try parseAsRoot()
            let name = type(of: command).configuration.commandName ?? "\(type(of: command))".lowercased()
            try doing("running voxelformer \(name)") { try command.run() }
        } catch {
            // a rank of a multi-process run: its error lines carry its rank
            if !RankPrefix.current.isEmpty {
                let message = fullMessage(for: error)
                if !message.isEmpty { FileHandle.standardError.write(Data((RankPrefix.lines(message) + "\n").utf8)) }
                Foundation.exit(exitCode(for: error).rawValue)
            }
            exit(withError: error)
        }
    }
}

/// A libtorch failure, with what the command was doing when it happened.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
}

/// Runs one stage of a command; a libtorch failure inside it is thrown as "<what>: libtorch: <message>".
/// Stages nest: the innermost one names the failure.
func doing<R>(_ what: @autoclosure () -> String, _ body: () throws -> R) throws -> R {
    do {
        return try withTorchError(body)
    } catch let error as TorchError {
        throw CommandFailure(description: "libtorch failed while \(what()): \(error.message)")
    }
}

enum VoxelFormerVersion {
    static let number = "0.1.0"
    static let string = "\(number) (libtorch \(Torch.version))"
}
